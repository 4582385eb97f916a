// SPDX-License-Identifier: MIT
// How `--agent deepgram` reaches Deepgram's Voice Agent API, and what it asks of it.
import AudioBridgeProtocols
import AudioBridgeTransports

public struct DeepgramAgentConfiguration: Sendable {
    public var url = "wss://agent.deepgram.com/v1/agent/converse"
    /// Sent as `Authorization: Token KEY`; empty sends none (a local stand-in, a gateway).
    public var apiKey = ""
    /// The agent (providers, prompt, greeting); the audio formats and functions are set per call.
    public var settings = DeepgramAgentSettings()
    /// More upgrade headers (--agent-header).
    public var headers: [(String, String)] = []
    public var additionalTrustRootsPEM: [UInt8]?
    public var tools = CallToolsConfiguration()
    /// `text` (the keys as a user message) or `off`; Deepgram has no place for `tool` mode's
    /// collect_digits result outside a function call the model makes, so it is not offered.
    public var dtmfToModel = KeyPressesToModel.text
    public var dtmfGapMilliseconds: Int64 = 1000
    /// The call's description (caller, call id…), added to the prompt.
    public var callMetadata: [(String, String)] = []
    public var maximumTranscriptCharacters = 8000
    /// μ-law or A-law straight through when the phone side is G.711.
    public var allowG711Passthrough = true
    /// What the caller hears while Deepgram cannot be reached (a built-in agent).
    public var fallbackAgent = "tone:425:400"
    var fallbackFile: WavFile?
    public var maximumBufferedUplinkMilliseconds = 2000
    public var maximumQueuedDownlinkMilliseconds = 2000
    public var reconnectMinimumMilliseconds: Int64 = 250
    public var reconnectMaximumMilliseconds: Int64 = 8000
    public var connectTimeoutSeconds: Int64 = 10
    /// A KeepAlive this often (the caller's audio flows anyway; this covers a stalled uplink).
    public var keepAliveMilliseconds: Int64 = 5000
    /// After an end_call or transfer_call answer, how long to wait for the agent to start its
    /// goodbye before carrying the request out without one.
    public var goodbyeWaitMilliseconds: Int64 = 3000
    public var maximumMessageBytes = 1 << 24

    public init() {}
}
