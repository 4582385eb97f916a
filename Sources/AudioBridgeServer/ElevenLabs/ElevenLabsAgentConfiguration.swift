// SPDX-License-Identifier: MIT
// How `--agent elevenlabs` reaches an ElevenLabs agent, and what it asks of it.
import AudioBridgeTransports

public struct ElevenLabsAgentConfiguration: Sendable {
    /// The agent's conversation URL: wss://api.elevenlabs.io/v1/convai/conversation?agent_id=…,
    /// or a signed URL for a private agent.
    public var url = ""
    /// Sent as an `xi-api-key` header; empty sends none (a public agent, a signed URL).
    public var apiKey = ""
    /// The audio format the agent is configured for, both ways: ulaw_8000, pcm_8000, pcm_16000
    /// or pcm_24000. The conversation's metadata must say the same, or the agent is not used.
    public var format = "pcm_16000"
    /// Send the prompt (and, after a reconnect, an empty first message) as overrides; the
    /// agent's security settings must allow them.
    public var overridePrompt = false
    public var prompt = ""
    public var headers: [(String, String)] = []
    public var additionalTrustRootsPEM: [UInt8]?
    public var tools = CallToolsConfiguration()
    public var dtmfToModel = KeyPressesToModel.text
    public var dtmfGapMilliseconds: Int64 = 1000
    /// The call's description (caller, call id…), sent as dynamic variables.
    public var callMetadata: [(String, String)] = []
    public var maximumTranscriptCharacters = 8000
    public var fallbackAgent = "tone:425:400"
    var fallbackFile: WavFile?
    public var maximumBufferedUplinkMilliseconds = 2000
    public var maximumQueuedDownlinkMilliseconds = 2000
    public var reconnectMinimumMilliseconds: Int64 = 250
    public var reconnectMaximumMilliseconds: Int64 = 8000
    public var connectTimeoutSeconds: Int64 = 10
    /// An answer counts as finished once no audio has come for this long (the protocol has no
    /// end-of-answer event); end_call and transfer_call wait for that.
    public var answerQuietMilliseconds: Int64 = 1000
    /// After an end_call or transfer_call result, how long to wait for a goodbye to start.
    public var goodbyeWaitMilliseconds: Int64 = 3000
    public var maximumMessageBytes = 1 << 24

    public init() {}

    /// The session's agent side for `format`, or nil for one this bridge does not speak.
    /// ulaw_8000 is μ-law straight through, so only for a μ-law phone side.
    public static func sampleRate(of format: String) -> Int? {
        switch format {
        case "ulaw_8000", "pcm_8000": 8000
        case "pcm_16000": 16000
        case "pcm_24000": 24000
        default: nil
        }
    }
}
