// SPDX-License-Identifier: MIT
// `serve --twilio HOST:PORT`: Twilio's side of a phone call, on one port.
//   POST /twilio/voice              the voice webhook of a Twilio number (inbound calls)
//   POST /twilio/outbound?purpose=X the webhook of calls the user's application places
//   GET  /twilio/media              the bidirectional Media Streams WebSocket the TwiML connects
// Both webhooks answer `<Connect><Stream>` TwiML whose <Parameter>s (caller, call id, direction,
// purpose) come back in the stream's `start` message. With an auth token configured, every
// webhook request must carry a valid X-Twilio-Signature (403 otherwise).
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

public struct TwilioServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 9093
    /// The URL Twilio reaches this server at (https://bridge.example.com), as configured in
    /// Twilio: signatures are computed over it, and the stream URL is derived from it (wss://).
    /// Without it the request's Host header is used with https/wss.
    public var publicURL: String?
    /// Twilio's auth token: when set, unsigned or wrongly signed webhook requests get 403.
    public var authToken: String?
    /// The agent for every call: a built-in one ("echo", "tone[:HZ[:MS]]", "wav:PATH") or
    /// "openai" (then `realtime` says how to reach the model), or a ws:// / wss:// URL (raw PCM).
    public var agent = "echo"
    public var realtime: RealtimeAgentConfiguration?
    /// For a ws:// or wss:// agent: how to reach it (its URL is the agent name).
    public var pcmStream = PCMWebSocketAgentConfiguration()
    /// The session settings (the phone side is forced to μ-law 20 ms: Twilio's format).
    public var session = SessionConfiguration()
    /// Close a stream that sends nothing for this long (Twilio sends media every 20 ms).
    public var idleTimeoutSeconds: Int64 = 10

    public init() {}
}

/// What the Twilio side has done, for logs and tests. Any thread.
public struct TwilioServerCounters: Sendable, Equatable {
    public var activeCalls = 0
    public var totalCalls = 0
    public var webhooks = 0
    public var rejectedWebhooks = 0
    public var framesIn = 0
    public var framesOut = 0
    public var marksSent = 0
    public var marksEchoed = 0
    public var clears = 0
    public var dtmf = 0
    /// Committed barge-ins (each sent a `clear`); pauses for a possible one (silence sent, no
    /// `clear`), and those that resumed without one.
    public var bargeIns = 0
    public var bargeInPauses = 0
    public var bargeInResumes = 0
    /// Twilio events we do not know, ignored.
    public var unknownEvents = 0
    /// Malformed messages and protocol violations (each closes its stream).
    public var protocolErrors = 0

    /// The counters in Prometheus' text format (`--metrics` serves them next to the AudioSocket
    /// server's), read from this snapshot at each scrape.
    public var prometheusText: String {
        let counters: [(String, Int)] = [
            ("calls", totalCalls), ("webhooks", webhooks), ("rejected_webhooks", rejectedWebhooks), ("frames_in", framesIn),
            ("frames_out", framesOut), ("marks_sent", marksSent), ("marks_echoed", marksEchoed), ("clears", clears), ("dtmf", dtmf),
            ("barge_ins", bargeIns), ("barge_in_pauses", bargeInPauses), ("barge_in_resumes", bargeInResumes), ("unknown_events", unknownEvents), ("protocol_errors", protocolErrors),
        ]
        var text = "# TYPE audiobridge_twilio_active_calls gauge\naudiobridge_twilio_active_calls \(activeCalls)\n"
        for (name, value) in counters {
            text += "# TYPE audiobridge_twilio_\(name)_total counter\naudiobridge_twilio_\(name)_total \(value)\n"
        }
        return text
    }
}

/// What a stream reports to an observer (tests, logs).
public enum TwilioStreamEvent: Sendable, Equatable {
    case started(TwilioStreamStart)
    /// The session's events; playoutFinished comes when Twilio echoes the item's mark.
    case session(SessionEvent)
    /// Twilio echoed a mark we sent after an agent item: the caller heard it to its end.
    case markPlayed(name: String)
    case stopped
}

public final class TwilioServer: Sendable {
    public static let voicePath = "/twilio/voice"
    public static let outboundPath = "/twilio/outbound"
    public static let mediaPath = "/twilio/media"

    public let configuration: TwilioServerConfiguration
    let logger: Logger
    private let group: any EventLoopGroup
    let pacers: LoopPacers
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    let streams = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])
    let counters = NIOLockedValueBox(TwilioServerCounters())
    let observer: (@Sendable (String, TwilioStreamEvent) -> Void)?

    /// `observer` is called on an event loop with the stream's sid and each of its events.
    public init(configuration: TwilioServerConfiguration, group: any EventLoopGroup, logger: Logger = Logger(label: "audiobridge.twilio"),
                observer: (@Sendable (String, TwilioStreamEvent) -> Void)? = nil) throws {
        var configuration = configuration
        configuration.session.phoneCodec = .ulaw
        configuration.session.frameMilliseconds = 20
        configuration.session = try CallAgent.validate(configuration.agent, realtime: configuration.realtime, session: configuration.session)  // fail now, not per call
        try configuration.session.validate()
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.observer = observer
        pacers = try LoopPacers(group: group)
    }

    /// Binds and starts serving; returns the address it listens on.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    // Loop-bound: the upgrade callbacks run on this channel's loop, as the pacer must.
                    let pacer = NIOLoopBound(try pacers.pacer(on: channel.eventLoop), eventLoop: channel.eventLoop)
                    let webhook = NIOLoopBound(TwilioWebhookHandler(server: self), eventLoop: channel.eventLoop)
                    let upgrader = NIOWebSocketServerUpgrader(
                        maxFrameSize: 1 << 16,
                        shouldUpgrade: { channel, head in
                            channel.eventLoop.makeSucceededFuture(head.uri == TwilioServer.mediaPath ? HTTPHeaders() : nil)
                        },
                        upgradePipelineHandler: { [self] channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                let sync = channel.pipeline.syncOperations
                                try sync.addHandler(NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 1, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: 1 << 20))
                                try sync.addHandler(IdleStateHandler(readTimeout: .seconds(configuration.idleTimeoutSeconds)))
                                try sync.addHandler(TwilioStreamHandler(server: self, pacer: pacer.value))
                            }
                        })
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.syncOperations.removeHandler(webhook.value, promise: nil)
                        }))
                    try channel.pipeline.syncOperations.addHandler(webhook.value)
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        serverChannel.withLockedValue { $0 = channel }
        return channel.localAddress!
    }

    /// Stops accepting, closes every stream (a close frame, then the socket) and the pacers.
    public func shutdown() async {
        let listener = serverChannel.withLockedValue { channel -> Channel? in
            defer { channel = nil }
            return channel
        }
        try? await listener?.close()
        for channel in streams.withLockedValue({ Array($0.values) }) {
            var reason = channel.allocator.buffer(capacity: 2)
            reason.write(webSocketErrorCode: .goingAway)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: reason), promise: nil)
            try? await channel.close()
        }
        await pacers.stop()
    }

    public var snapshot: TwilioServerCounters { counters.withLockedValue { $0 } }

    func count(_ update: (inout TwilioServerCounters) -> Void) { counters.withLockedValue(update) }

    /// The base URL Twilio used for this request: the configured public URL, or the Host header.
    func baseURL(host: String?) -> String {
        if let publicURL = configuration.publicURL { return publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL }
        return "https://" + (host ?? "\(configuration.host):\(configuration.port)")
    }

    /// The stream URL for TwiML: the base URL with ws(s) instead of http(s).
    func streamURL(base: String) -> String {
        if base.hasPrefix("https://") { return "wss://" + base.dropFirst(8) + Self.mediaPath }
        if base.hasPrefix("http://") { return "ws://" + base.dropFirst(7) + Self.mediaPath }
        return base + Self.mediaPath
    }
}
