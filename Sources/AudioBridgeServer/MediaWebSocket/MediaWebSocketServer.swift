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

        var transport: PhoneTransport { self == .freeSWITCH ? .freeSWITCH : .chanWebSocket }
    }

    public var role: Role = .freeSWITCH
    public var host = "127.0.0.1"
    public var port = 8090
    /// FreeSWITCH: the audio's rate when neither the metadata nor the URL (?rate=16000) says.
    public var defaultSampleRate = 8000
    /// The agent, session and recording of every call (the codec is each call's own).
    public var call = CallSettings()
    /// Who may connect; nil: anyone who reaches the port.
    public var credential: MediaWebSocketCredential?
    /// The largest message taken (Asterisk's own limit is 65,500 bytes); larger closes with 1009.
    public var maximumMessageBytes = 65_536
    /// FreeSWITCH file-based playback (playAudio / streamAudio): agent audio per message.
    public var playbackChunkMilliseconds = 200
    /// Close a connection that sends nothing for this long.
    public var idleTimeoutSeconds: Int64 = 10

    public init() {}
}

public final class MediaWebSocketServer: Sendable {
    public let configuration: MediaWebSocketServerConfiguration
    public let services: BridgeServices
    let logger: Logger
    private let group: any EventLoopGroup
    private let pacers: LoopPacers
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    let connections = ConnectionRegistry()
    /// Called on an event loop with every session event of every call (tests).
    let eventObserver: (@Sendable (SessionEvent) -> Void)?

    public init(configuration: MediaWebSocketServerConfiguration, group: any EventLoopGroup, services: BridgeServices = BridgeServices(),
                logger: Logger? = nil, eventObserver: (@Sendable (SessionEvent) -> Void)? = nil) throws {
        var configuration = configuration
        configuration.call.session.frameMilliseconds = 20
        // The codec is the call's (chan_websocket's MEDIA_START, or L16 for FreeSWITCH); validated per call.
        configuration.call.session.phoneCodec = .slin16
        configuration.call = try CallAgent.validate(configuration.call)
        self.configuration = configuration
        self.services = services
        self.group = group
        self.logger = logger ?? Logger(label: configuration.role == .asterisk ? "audiobridge.asterisk-ws" : "audiobridge.freeswitch")
        self.eventObserver = eventObserver
        pacers = try LoopPacers(group: group)
    }

    var metrics: TransportMetrics { services.metrics[configuration.role.transport] }

    /// The subprotocol to answer with, from the client's list: for FreeSWITCH one of the forks'
    /// (none: mod_audio_stream); for Asterisk whatever it asks first (websocket_client.conf's
    /// `protocols`).
    func chooseSubprotocol(_ offered: [String]) -> String? {
        switch configuration.role {
        case .freeSWITCH: offered.first { AudioForkFlavor(subprotocol: $0) != nil && !$0.isEmpty }
        case .asterisk: offered.first
        }
    }

    /// Why an upgrade request is refused before any WebSocket exists: no or wrong credential
    /// (401, 403), or no call can start now (503). nil: upgrade.
    func refusal(_ head: HTTPRequestHead) -> HTTPResponseStatus? {
        if let credential = configuration.credential {
            switch credential.check(head) {
            case .missing: return .unauthorized
            case .wrong: return .forbidden
            case .accepted: break
            }
        }
        if services.admission.wouldRefuse() != nil { return .serviceUnavailable }
        return nil
    }

    @discardableResult
    public func start() async throws -> SocketAddress {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .phoneConnectionBuffers()
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pacer = NIOLoopBound(try pacers.pacer(on: channel.eventLoop), eventLoop: channel.eventLoop)
                    let refusals = NIOLoopBound(UpgradeRefusalHandler(server: self), eventLoop: channel.eventLoop)
                    let upgrader = NIOWebSocketServerUpgrader(
                        maxFrameSize: configuration.maximumMessageBytes,
                        shouldUpgrade: { [self] channel, head in
                            guard refusal(head) == nil else { return channel.eventLoop.makeSucceededFuture(nil) }
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
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            context.pipeline.syncOperations.removeHandler(refusals.value, promise: nil)
                        }))
                    try channel.pipeline.syncOperations.addHandler(refusals.value)
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

    /// The query parameters of a request URI.
    static func query(_ uri: String) -> [String: String] {
        guard let mark = uri.firstIndex(of: "?") else { return [:] }
        var fields: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    /// Stops accepting, closes every call (1001, going away) and stops the pacers.
    public func shutdown() async {
        let listener = serverChannel.withLockedValue { channel -> Channel? in
            defer { channel = nil }
            return channel
        }
        try? await listener?.close()
        for channel in connections.all {
            var reason = channel.allocator.buffer(capacity: 2)
            reason.write(webSocketErrorCode: .goingAway)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: reason)).whenComplete { _ in channel.close(promise: nil) }
            try? await channel.closeFuture.get()
        }
        await pacers.stop()
    }

    /// This transport's counters (any thread).
    public var snapshot: TransportCounters { metrics.snapshot }
}

/// Answers a request the upgrader turned down: 401 (with the challenge), 403, 503, or 400 when
/// it was no WebSocket request at all. Each refusal is counted.
final class UpgradeRefusalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: MediaWebSocketServer
    private var head: HTTPRequestHead?

    init(server: MediaWebSocketServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let status = server.refusal(head) ?? .badRequest
            var headers = HTTPHeaders()
            switch status {
            case .unauthorized, .forbidden:
                server.metrics.add(.refusedUnauthorized)
                server.logger.warning("connection refused: \(status == .unauthorized ? "no credential" : "wrong credential")")
                if status == .unauthorized, let challenge = server.configuration.credential?.challenge { headers.add(name: "WWW-Authenticate", value: challenge) }
            case .serviceUnavailable:
                let refusal = server.services.admission.wouldRefuse() ?? .atLimit
                server.metrics.count(refusal)
                server.logger.notice("call refused: \(refusal == .atLimit ? "at --max-calls" : "draining")")
            default:
                break
            }
            let body = "\(status.code) \(status.reasonPhrase)\n"
            headers.add(name: "Content-Type", value: "text/plain")
            headers.add(name: "Content-Length", value: "\(body.utf8.count)")
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// One connection: messages in, the call made from the first one, close codes for failures.
final class MediaWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame

    private let server: MediaWebSocketServer
    private let pacer: CallPacer
    private let messages: WebSocketMessageChannel
    private let subprotocol: String?
    private let uri: String
    private var side: MediaWebSocketSide?
    private var call: CallPipeline?
    /// The call's logger (its id, transport and agent on every line) once it has started.
    private var logger: Logger { call?.logger ?? server.logger }

    init(server: MediaWebSocketServer, pacer: CallPacer, messages: WebSocketMessageChannel, subprotocol: String?, uri: String) {
        self.server = server
        self.pacer = pacer
        self.messages = messages
        self.subprotocol = subprotocol
        self.uri = uri
    }

    func handlerAdded(context: ChannelHandlerContext) {
        server.connections.add(context.channel)
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
                handle(message, context: context)
            } catch {
                server.metrics.add(.protocolErrors)
                switch error {
                case .tooLarge(let size):
                    logger.warning("closing: a message of \(size) bytes is over the limit")
                    messages.close(code: .messageTooLarge)
                case .badFraming:
                    messages.close(code: .protocolError)
                case .badCompression:
                    messages.close(code: .dataInconsistentWithMessage)
                }
            }
        default:
            break
        }
    }

    private func handle(_ message: WebSocketMessage, context: ChannelHandlerContext) {
        do {
            if let call, let side {
                try side.receive(message, into: call)
                return
            }
            try startCall(first: message, context: context)
        } catch let violation as MediaWebSocketViolation {
            // The call cannot go on (or never started): say why and close.
            server.metrics.add(.protocolErrors)
            logger.warning("closing: \(violation)")
            messages.close(code: .policyViolation)
        } catch {
            // One bad control message: counted and skipped; the call goes on.
            server.metrics.add(.protocolErrors)
            logger.info("ignoring a message: \(error)")
        }
    }

    private func startCall(first message: WebSocketMessage, context: ChannelHandlerContext) throws {
        let configuration = server.configuration
        let side: MediaWebSocketSide
        let callID: String
        let metadata: [(String, String)]
        var logger = server.logger
        switch configuration.role {
        case .freeSWITCH:
            let fork = try FreeSWITCHForkSide(first: message, subprotocol: subprotocol, uri: uri, messages: messages, defaultSampleRate: configuration.defaultSampleRate,
                                              playbackChunkMilliseconds: configuration.playbackChunkMilliseconds, session: configuration.call.session)
            side = .freeSWITCH(fork)
            logger[metadataKey: "module"] = "\(fork.flavor == .audioStream ? "mod_audio_stream" : fork.flavor.rawValue)"
            callID = "fs-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            metadata = [("metadata", fork.metadata.text)]
        case .asterisk:
            guard case .text(let text) = message else { throw MediaWebSocketViolation.audioBeforeMediaStart }
            let chan = try ChanWebSocketSide(first: text, messages: messages, session: configuration.call.session)
            side = .chanWebSocket(chan)
            callID = chan.start.channelID
            metadata = chan.metadata
        }
        if let refusal = server.services.admission.admit() {
            // Checked before the upgrade too (503); this call raced past it: 1013, try again later.
            server.metrics.count(refusal)
            server.logger.notice("call refused: \(refusal == .atLimit ? "at --max-calls" : "draining")")
            messages.close(code: .unknown(1013))
            return
        }
        let observer = server.eventObserver.map { observe in { (event: SessionEvent) in observe(event) } }
        let call = try CallPipeline(side: { _ in side.phoneSide }, callID: callID, session: side.sessionConfiguration, settings: configuration.call,
                                    metadata: metadata, services: server.services, transport: configuration.role.transport, pacer: pacer,
                                    eventLoop: context.eventLoop, logger: logger, observer: observer)
        self.call = call
        self.side = side
        if messages.isCompressed { server.metrics.add(.compressedCalls) }
        switch side {
        case .chanWebSocket(let chan):
            chan.answer()
            call.logger.info("chan_websocket media", metadata: ["format": "\(chan.start.format)", "frame": "\(chan.start.optimalFrameSize)", "control": "\(chan.format)"])
        case .freeSWITCH(let fork):
            call.logger.info("fork media", metadata: ["rate": "\(fork.sampleRate)",
                                                     "mix": "\(fork.mix)", "compressed": "\(messages.isCompressed)"])
            if case .binary = message { try fork.receive(message, into: call) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            server.metrics.add(.protocolErrors)
            logger.warning("closing an idle connection")
            messages.close(code: .policyViolation)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.connections.remove(context.channel)
        call?.end(reason: "connection closed")
        call = nil
        side = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // NIO's frame decoder closes a frame over the limit or a broken one itself (1009, 1002).
        if error is NIOWebSocketError { server.metrics.add(.protocolErrors) }
        logger.info("connection error: \(error)")
        context.close(promise: nil)
    }
}

/// The two kinds of call a media WebSocket carries.
enum MediaWebSocketSide {
    case freeSWITCH(FreeSWITCHForkSide)
    case chanWebSocket(ChanWebSocketSide)

    var phoneSide: PhoneSide {
        switch self {
        case .freeSWITCH(let side): side
        case .chanWebSocket(let side): side
        }
    }

    var sessionConfiguration: SessionConfiguration {
        switch self {
        case .freeSWITCH(let side): side.sessionConfiguration
        case .chanWebSocket(let side): side.sessionConfiguration
        }
    }

    func receive(_ message: WebSocketMessage, into call: CallPipeline) throws {
        switch self {
        case .freeSWITCH(let side): try side.receive(message, into: call)
        case .chanWebSocket(let side): try side.receive(message, into: call)
        }
    }
}

enum MediaWebSocketViolation: Error {
    case audioBeforeMediaStart
    case unsupportedFormat(String)
    case unsupportedSampleRate(Int)
}
