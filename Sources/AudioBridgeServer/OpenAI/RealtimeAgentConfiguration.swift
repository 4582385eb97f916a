// SPDX-License-Identifier: MIT
// How `--agent openai` reaches the model and what the caller hears while it cannot.
import AudioBridgeProtocols
import AudioBridgeTransports

public struct RealtimeAgentConfiguration: Sendable {
    /// ws:// or wss:// endpoint; `model` is added as a query parameter unless the URL has one.
    public var url = "wss://api.openai.com/v1/realtime"
    /// Sent as `Authorization: Bearer …`; never logged.
    public var apiKey = ""
    public var version: RealtimeProtocolVersion = .ga
    /// Model, voice, instructions, turn detection and the caller's transcription (on by default:
    /// the transcript is what a new connection is given after a drop). The audio format is
    /// chosen per call from the session (μ-law/A-law passthrough when the session passes G.711
    /// through, else PCM16).
    public var settings = RealtimeSessionSettings(inputTranscriptionModel: "gpt-4o-mini-transcribe")
    /// More HTTP headers for the upgrade request (a gateway's, Azure's `api-key`); an empty
    /// `apiKey` sends no Authorization header.
    public var headers: [(String, String)] = []
    /// Call control and the deployment's own tools (CallTools).
    public var tools = CallToolsConfiguration()
    /// How the caller's key presses reach the model (CallerKeyPresses): as text (gathered until
    /// `dtmfGapMilliseconds` pass without one, or '#'), as collect_digits results, or not.
    public var dtmfToModel = KeyPressesToModel.text
    public var dtmfGapMilliseconds: Int64 = 1000
    /// The conversation kept per call for a new connection, in characters of text (the oldest
    /// turns go first).
    public var maximumTranscriptCharacters = 8000
    /// Pass G.711 through (g711_ulaw / audio/pcmu) when the phone side is G.711: no resampling.
    public var allowG711Passthrough = true
    /// Our own detector decides turns (the bridge commits the input and asks for a response);
    /// otherwise the server's VAD does, and its `speech_started` also cuts local playout.
    public var localTurnDetection = false
    /// A built-in agent (tone[:HZ[:MS]] or wav:PATH) the caller hears while the model is unreachable.
    public var fallbackAgent = "tone:425:400"
    /// A `wav:` fallback's file, read once when the server checks its settings.
    var fallbackFile: WavFile?
    /// Caller audio kept while disconnected, sent on reconnect; beyond it audio is dropped and counted.
    public var maximumBufferedUplinkMilliseconds = 2000
    /// Model audio accepted ahead of playout before the socket stops being read (back-pressure).
    public var maximumQueuedDownlinkMilliseconds = 2000
    public var reconnectMinimumMilliseconds: Int64 = 250
    public var reconnectMaximumMilliseconds: Int64 = 8000
    public var connectTimeoutSeconds: Int64 = 10
    /// A larger message from the server is a protocol error (close 1009, then a reconnect).
    public var maximumMessageBytes = 1 << 24
    /// PEM certificates trusted in addition to the system's roots for wss:// (a private CA, or
    /// a test's self-signed certificate).
    public var additionalTrustRootsPEM: [UInt8]?
    /// What the bridge knows about the call (set per call): added to the instructions as
    /// "Call context: name=value, …" so the model knows who it is talking to and why.
    public var callMetadata: [(String, String)] = []

    public init() {}

    /// The instructions with the call's context.
    var instructionsWithContext: String {
        let context = callMetadata.filter { !$0.1.isEmpty }.map { "\($0.0)=\($0.1)" }.joined(separator: ", ")
        guard !context.isEmpty else { return settings.instructions }
        return settings.instructions + (settings.instructions.isEmpty ? "" : "\n\n") + "Call context: " + context
    }

    /// The URL with the model as a query parameter (unless it names the model, or an Azure
    /// deployment, already).
    var connectURL: String {
        url.contains("model=") || url.contains("deployment=") ? url : url + (url.contains("?") ? "&" : "?") + "model=" + settings.model
    }
}
