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
    /// The agent, session and recording of every call (the phone side is forced to μ-law
    /// 20 ms: Twilio's format).
    public var call = CallSettings()
    /// Twilio's REST API, for the agent's end_call and transfer_call (nil: end_call only closes
    /// the stream, and transfer_call is not offered).
    public var restAPI: TwilioRESTConfiguration?
    /// Close a stream that sends nothing for this long (Twilio sends media every 20 ms).
    public var idleTimeoutSeconds: Int64 = 10

    public init() {}
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
    public let services: BridgeServices
    let logger: Logger
    private let group: any EventLoopGroup
    let pacers: LoopPacers
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    let connections = ConnectionRegistry()
    let observer: (@Sendable (String, TwilioStreamEvent) -> Void)?

    /// `observer` is called on an event loop with the stream's sid and each of its events.
    public init(configuration: TwilioServerConfiguration, group: any EventLoopGroup, services: BridgeServices = BridgeServices(),
                logger: Logger = Logger(label: "audiobridge.twilio"), observer: (@Sendable (String, TwilioStreamEvent) -> Void)? = nil) throws {
        var configuration = configuration
        configuration.call.session.phoneCodec = .ulaw
        configuration.call.session.frameMilliseconds = 20
        configuration.call = try CallAgent.validate(configuration.call)  // fail now, not per call
        self.configuration = configuration
        self.services = services
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
            .phoneConnectionBuffers()
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    // Loop-bound: the upgrade callbacks run on this channel's loop, as the pacer must.
                    let pacer = NIOLoopBound(try pacers.pacer(on: channel.eventLoop), eventLoop: channel.eventLoop)
                    let webhook = NIOLoopBound(TwilioWebhookHandler(server: self), eventLoop: channel.eventLoop)
                    let upgrader = NIOWebSocketServerUpgrader(
                        maxFrameSize: 1 << 16,
                        shouldUpgrade: { [self] channel, head in
                            // Refused requests are not upgraded; the webhook handler answers them (403, 503).
                            channel.eventLoop.makeSucceededFuture(streamRefusal(head) == nil ? HTTPHeaders() : nil)
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
        for channel in connections.all {
            TwilioStreamHandler.close(channel, code: .goingAway)
            try? await channel.closeFuture.get()
        }
        await pacers.stop()
    }

    /// This transport's counters (any thread).
    public var snapshot: TransportCounters { services.metrics[.twilio].snapshot }

    /// Why a request for the stream WebSocket is not upgraded: not the stream path (404), not
    /// signed by Twilio while a token is configured (403: Twilio signs the handshake with the
    /// same HMAC as its webhooks, over the stream URL), or no call can start now (503).
    func streamRefusal(_ head: HTTPRequestHead) -> HTTPResponseStatus? {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard path == Self.mediaPath else { return .notFound }
        if let token = configuration.authToken {
            let signature = head.headers.first(name: "X-Twilio-Signature") ?? ""
            let base = baseURL(host: head.headers.first(name: "Host"))
            // Twilio signs the URL the TwiML gave it (wss://); the https:// spelling is accepted too.
            let signed = [streamURL(base: base).dropLast(Self.mediaPath.count) + head.uri, base + head.uri]
            guard signed.contains(where: { TwilioSignature.isValid(signature, authToken: token, url: String($0), parameters: []) }) else { return .forbidden }
        }
        if services.admission.wouldRefuse() != nil { return .serviceUnavailable }
        return nil
    }

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
