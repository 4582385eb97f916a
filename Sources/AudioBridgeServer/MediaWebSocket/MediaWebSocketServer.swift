// SPDX-License-Identifier: MIT
// The WebSocket server phone systems stream calls to: FreeSWITCH's mod_audio_fork (drachtio and
// jambonz flavors) and mod_audio_stream on `--freeswitch`, Asterisk's chan_websocket (dialled
// through websocket_client.conf) on `--asterisk-ws`. One session per connection, paced by the
// loop's pacer like every other call. Which FreeSWITCH module is calling is told by the
// subprotocol it asks for (audio.drachtio.org, audio.jambonz.org, none: mod_audio_stream);
// permessage-deflate is negotiated whenever the client offers it.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

public struct MediaWebSocketServerConfiguration: Sendable {
    public enum Role: String, Sendable {
        case freeSWITCH = "FreeSWITCH"
        case asterisk = "Asterisk chan_websocket"
    }

    public var role: Role = .freeSWITCH
    public var host = "127.0.0.1"
    public var port = 8090
    /// FreeSWITCH: the audio's rate when neither the metadata nor the URL (?rate=16000) says.
    public var defaultSampleRate = 8000
    public var agent = "echo"
    public var realtime: RealtimeAgentConfiguration?
    public var pcmStream = PCMWebSocketAgentConfiguration()
    public var session = SessionConfiguration()
    /// The largest message taken (Asterisk's own limit is 65,500 bytes); larger closes with 1009.
    public var maximumMessageBytes = 65_536
    /// FreeSWITCH file-based playback (playAudio / streamAudio): agent audio per message.
    public var playbackChunkMilliseconds = 200
    /// Close a connection that sends nothing for this long.
    public var idleTimeoutSeconds: Int64 = 10

    public init() {}
}

public struct MediaWebSocketServerCounters: Sendable, Equatable {
    public var activeCalls = 0
    public var totalCalls = 0
    public var compressedCalls = 0
    public var framesIn = 0
    public var framesOut = 0
    /// Committed barge-ins; pauses for a possible one, and those that resumed without one.
    public var bargeIns = 0
    public var bargeInPauses = 0
    public var bargeInResumes = 0
    public var dtmf = 0
    public var marksSent = 0
    public var marksConfirmed = 0
    /// Ticks skipped because the peer asked us to stop sending (MEDIA_XOFF).
    public var pausedTicks = 0
    public var protocolErrors = 0
    public var oversizeMessages = 0
}

public final class MediaWebSocketServer: Sendable {
    public let configuration: MediaWebSocketServerConfiguration
    let logger: Logger
    private let group: any EventLoopGroup
    private let pacers: LoopPacers
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    let connections = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])
    let counters = NIOLockedValueBox(MediaWebSocketServerCounters())
    let metrics = ServerMetrics()
    /// Called on an event loop with every session event of every call (tests).
    let eventObserver: (@Sendable (SessionEvent) -> Void)?

    public init(configuration: MediaWebSocketServerConfiguration, group: any EventLoopGroup, logger: Logger? = nil,
                eventObserver: (@Sendable (SessionEvent) -> Void)? = nil) throws {
        var configuration = configuration
        configuration.session.frameMilliseconds = 20
        // The codec is the call's (chan_websocket's MEDIA_START, or L16 for FreeSWITCH); validated per call.
        configuration.session.phoneCodec = .slin16
        configuration.session = try CallAgent.validate(configuration.agent, realtime: configuration.realtime, session: configuration.session)
        try configuration.session.validate()
        self.configuration = configuration
        self.group = group
        self.logger = logger ?? Logger(label: configuration.role == .asterisk ? "audiobridge.asterisk-ws" : "audiobridge.freeswitch")
        self.eventObserver = eventObserver
        pacers = try LoopPacers(group: group)
    }

    /// The subprotocol to answer with, from the client's list: for FreeSWITCH one of the forks'
    /// (none: mod_audio_stream); for Asterisk whatever it asks first (websocket_client.conf's
    /// `protocols`).
    func chooseSubprotocol(_ offered: [String]) -> String? {
        switch configuration.role {
        case .freeSWITCH: offered.first { AudioForkFlavor(subprotocol: $0) != nil && !$0.isEmpty }
        case .asterisk: offered.first
        }
    }

    @discardableResult
    public func start() async throws -> SocketAddress {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pacer = NIOLoopBound(try pacers.pacer(on: channel.eventLoop), eventLoop: channel.eventLoop)
                    let upgrader = NIOWebSocketServerUpgrader(
                        maxFrameSize: configuration.maximumMessageBytes,
                        shouldUpgrade: { [self] channel, head in
                            var headers = HTTPHeaders()
                            if let subprotocol = chooseSubprotocol(Self.subprotocols(head.headers)) { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
                            if let compression = Self.compression(head.headers) { headers.add(name: "Sec-WebSocket-Extensions", value: compression.responseHeader) }
                            return channel.eventLoop.makeSucceededFuture(headers)
                        },
                        upgradePipelineHandler: { [self] channel, head in
                            channel.eventLoop.makeCompletedFuture {
                                let messages = WebSocketMessageChannel(channel: channel, compression: Self.compression(head.headers),
                                                                       maximumMessageBytes: configuration.maximumMessageBytes)
                                let sync = channel.pipeline.syncOperations
                                try sync.addHandler(IdleStateHandler(readTimeout: .seconds(configuration.idleTimeoutSeconds)))
                                try sync.addHandler(MediaWebSocketHandler(server: self, pacer: pacer.value, messages: messages,
                                                                          subprotocol: chooseSubprotocol(Self.subprotocols(head.headers)), uri: head.uri))
                            }
                        })
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        serverChannel.withLockedValue { $0 = channel }
        return channel.localAddress!
    }

    static func subprotocols(_ headers: HTTPHeaders) -> [String] {
        headers[canonicalForm: "Sec-WebSocket-Protocol"].map { String($0) }
    }

    static func compression(_ headers: HTTPHeaders) -> PerMessageDeflateParameters? {
        let offers = headers["Sec-WebSocket-Extensions"].joined(separator: ", ")
        return offers.isEmpty ? nil : PerMessageDeflate.negotiate(offers)
    }

    /// Stops accepting, closes every call (1001, going away) and stops the pacers.
    public func shutdown() async {
        let listener = serverChannel.withLockedValue { channel -> Channel? in
            defer { channel = nil }
            return channel
        }
        try? await listener?.close()
        for channel in connections.withLockedValue({ Array($0.values) }) {
            var reason = channel.allocator.buffer(capacity: 2)
            reason.write(webSocketErrorCode: .goingAway)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: reason), promise: nil)
            try? await channel.close()
        }
        await pacers.stop()
    }

    public var snapshot: MediaWebSocketServerCounters { counters.withLockedValue { $0 } }

    func count(_ update: (inout MediaWebSocketServerCounters) -> Void) { counters.withLockedValue(update) }

    // What both kinds of media call do alike, on the call's event loop.

    /// One whole caller frame into a call's session, counted.
    func feed(_ frame: UnsafeRawBufferPointer, to session: Session, logger: Logger) {
        do {
            try session.media.writeCaller(frame)
        } catch {
            logger.error("caller frame rejected: \(error)")
        }
        count { $0.framesIn += 1 }
    }

    /// A barge-in, after the call has told its peer to drop what it queued: counted, logged, observed.
    func report(bargeIn cut: SessionEvent, logger: Logger) {
        count { $0.bargeIns += 1 }
        logger.info("barge-in", metadata: ["item": "\(cut.item)", "heard_ms": "\(cut.heardMilliseconds)"])
        eventObserver?(cut)
    }

    /// A tick's other session events (digits, pauses and resumes counted and logged), observed.
    func report(_ events: [SessionEvent], logger: Logger) {
        for event in events {
            switch event.kind {
            case .dtmf:
                count { $0.dtmf += 1 }
                logger.info("dtmf", metadata: ["digit": "\(Character(Unicode.Scalar(event.digit)))"])
            case .bargeInPending:
                count { $0.bargeInPauses += 1 }
            case .bargeInResumed:
                count { $0.bargeInResumes += 1 }
            default:
                break
            }
            eventObserver?(event)
        }
    }
}

/// A call on a media WebSocket: what the connection handler drives.
protocol MediaWebSocketCall: PacedCall {
    var session: Session { get }
    func receive(_ message: WebSocketMessage) throws
}

/// One connection: messages in, the call made from the first one, close codes for failures.
final class MediaWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame

    private let server: MediaWebSocketServer
    private let pacer: CallPacer
    private let messages: WebSocketMessageChannel
    private let subprotocol: String?
    private let uri: String
    private var call: MediaWebSocketCall?

    init(server: MediaWebSocketServer, pacer: CallPacer, messages: WebSocketMessageChannel, subprotocol: String?, uri: String) {
        self.server = server
        self.pacer = pacer
        self.messages = messages
        self.subprotocol = subprotocol
        self.uri = uri
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        server.connections.withLockedValue { $0[ObjectIdentifier(channel)] = channel }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .ping:
            messages.pong(frame)
        case .connectionClose:
            messages.close(code: .normalClosure)
        case .text, .binary, .continuation:
            do throws(WebSocketMessageFailure) {
                guard let message = try messages.receive(frame) else { return }
                handle(message)
            } catch {
                switch error {
                case .tooLarge(let size):
                    server.count { $0.oversizeMessages += 1; $0.protocolErrors += 1 }
                    server.logger.warning("closing: a message of \(size) bytes is over the limit")
                    messages.close(code: .messageTooLarge)
                case .badFraming:
                    server.count { $0.protocolErrors += 1 }
                    messages.close(code: .protocolError)
                case .badCompression:
                    server.count { $0.protocolErrors += 1 }
                    messages.close(code: .dataInconsistentWithMessage)
                }
            }
        default:
            break
        }
    }

    private func handle(_ message: WebSocketMessage) {
        do {
            if let call {
                try call.receive(message)
                return
            }
            let call: MediaWebSocketCall
            switch server.configuration.role {
            case .freeSWITCH:
                call = try FreeSWITCHForkCall(first: message, subprotocol: subprotocol, uri: uri, messages: messages, server: server, engine: pacer.engine)
            case .asterisk:
                guard case .text(let text) = message else { throw MediaWebSocketViolation.audioBeforeMediaStart }
                call = try ChanWebSocketCall(first: text, messages: messages, server: server, engine: pacer.engine)
            }
            self.call = call
            pacer.add(call)
            server.count { $0.activeCalls += 1; $0.totalCalls += 1; if messages.isCompressed { $0.compressedCalls += 1 } }
            server.metrics.calls.increment()
        } catch let violation as MediaWebSocketViolation {
            // The call cannot go on (or never started): say why and close.
            server.count { $0.protocolErrors += 1 }
            server.logger.warning("closing: \(violation)")
            messages.close(code: .policyViolation)
        } catch {
            // One bad control message: counted and skipped; the call goes on.
            server.count { $0.protocolErrors += 1 }
            server.metrics.protocolErrors.increment()
            server.logger.info("ignoring a message: \(error)")
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            server.count { $0.protocolErrors += 1 }
            server.logger.warning("closing an idle connection")
            messages.close(code: .policyViolation)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let channel = context.channel
        server.connections.withLockedValue { $0[ObjectIdentifier(channel)] = nil }
        if let call {
            pacer.remove(call)
            pacer.engine.detach(call.session)
            server.count { $0.activeCalls -= 1 }
            server.logger.info("call ended", metadata: ["frames_in": "\(call.session.statistics.framesIn)"])
            self.call = nil
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        server.logger.info("connection error: \(error)")
        context.close(promise: nil)
    }
}

enum MediaWebSocketViolation: Error {
    case audioBeforeMediaStart
    case unsupportedFormat(String)
    case unsupportedSampleRate(Int)
}
