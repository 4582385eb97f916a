// SPDX-License-Identifier: MIT
// How `--agent gemini` reaches Google's Gemini Live API, and what it asks of it.
import AudioBridgeProtocols
import AudioBridgeTransports

public struct GeminiLiveAgentConfiguration: Sendable {
    public var url = "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    /// Sent as an `x-goog-api-key` header; empty sends none.
    public var apiKey = ""
    /// Model, voice, instruction and activity detection; functions and the resumption handle
    /// are set per connection.
    public var setup = GeminiLiveSetup()
    public var headers: [(String, String)] = []
    public var additionalTrustRootsPEM: [UInt8]?
    public var tools = CallToolsConfiguration()
    public var dtmfToModel = KeyPressesToModel.text
    public var dtmfGapMilliseconds: Int64 = 1000
    public var callMetadata: [(String, String)] = []
    public var maximumTranscriptCharacters = 8000
    public var fallbackAgent = "tone:425:400"
    var fallbackFile: WavFile?
    public var maximumBufferedUplinkMilliseconds = 2000
    public var maximumQueuedDownlinkMilliseconds = 2000
    public var reconnectMinimumMilliseconds: Int64 = 250
    public var reconnectMaximumMilliseconds: Int64 = 8000
    public var connectTimeoutSeconds: Int64 = 10
    public var goodbyeWaitMilliseconds: Int64 = 3000
    public var maximumMessageBytes = 1 << 24

    /// The API's rates: PCM16 at 16 kHz in, 24 kHz out.
    public static let inputSampleRate = 16000
    public static let outputSampleRate = 24000

    public init() {}
}
