// SPDX-License-Identifier: MIT
// How `--agent ws://…` reaches the user's own model server, and what the caller hears while it
// cannot. The audio rate is the session's agent rate (`--agent-rate`), declared in `start`.
import AudioBridgeTransports

public struct PCMWebSocketAgentConfiguration: Sendable {
    /// ws:// or wss:// endpoint (set per server from the agent name).
    public var url = ""
    /// Extra HTTP headers for the upgrade request (e.g. an Authorization the server wants).
    public var headers: [(String, String)] = []
    /// A built-in agent (tone[:HZ[:MS]] or wav:PATH) the caller hears while the server is unreachable.
    public var fallbackAgent = "tone:425:400"
    /// A `wav:` fallback's file, read once when the server checks its settings.
    var fallbackFile: WavFile?
    /// Caller audio kept while disconnected, sent on reconnect; beyond it audio is dropped and counted.
    public var maximumBufferedUplinkMilliseconds = 2000
    /// Agent audio accepted ahead of playout before the socket stops being read (back-pressure).
    public var maximumQueuedDownlinkMilliseconds = 2000
    public var reconnectMinimumMilliseconds: Int64 = 250
    public var reconnectMaximumMilliseconds: Int64 = 8000
    public var connectTimeoutSeconds: Int64 = 10
    /// A larger message from the server is a protocol error (close 1009, then a reconnect).
    public var maximumMessageBytes = 1 << 20
    /// PEM certificates trusted in addition to the system's roots for wss://.
    public var additionalTrustRootsPEM: [UInt8]?
    /// What the bridge knows about the call (set per call), sent in `start` as metadata.
    public var callMetadata: [(String, String)] = []

    public init() {}
}
