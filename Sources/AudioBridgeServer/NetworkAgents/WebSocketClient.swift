// SPDX-License-Identifier: MIT
// The WebSocket client under the network agents (Realtime, raw PCM): TCP (TLS for wss with SNI
// and the system's trust roots), the HTTP upgrade with the agent's headers, then text and binary
// messages both ways. Reading can be paused: while paused, the handler holds NIO's read
// requests, so the kernel's buffer fills and the server slows down instead of us dropping audio.
// A message over `maximumMessageBytes` or a broken frame is a protocol error: NIO answers with
// the matching close code (1009, 1002), the delegate hears `webSocketProtocolError`, then the
// connection closes. Every end is reported with its cause (WebSocketFailure): the connect's
// error, the refused upgrade's HTTP status, the first error on the connection, or the server's
// close code and reason.
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// What a client's owner hears, always on the client's event loop.
protocol WebSocketClientDelegate: AnyObject {
    func webSocketOpened()
    func webSocketReceived(text: [UInt8])
    func webSocketReceived(binary: ByteBuffer)
    func webSocketProtocolError(_ error: Error)
    /// The connection failed or ended; `cause` says why, for the log.
    func webSocketClosed(cause: String)
}

final class WebSocketClient {
    private var channel: Channel?
    private var gate: WebSocketClientHandler?
    private var closing = false
    /// The delegate has moved to a new connection: it hears nothing more of this one.
    private var abandoned = false
    /// The upgrade is done: the pipeline takes WebSocket frames (before it, HTTP parts only).
    private var isUpgraded = false
    /// Completed when the upgrade is done, or failed: by close() too, so that a connect still
    /// in flight when the agent goes away never leaves it pending.
    private var upgraded: EventLoopPromise<Void>?

    /// Starts connecting; the delegate hears `connectionOpened`, `received` and `connectionClosed`
    /// on `eventLoop`.
    static func connect(url: ServerURL, headers: [(String, String)], additionalTrustRootsPEM: [UInt8]?, maximumMessageBytes: Int,
                        eventLoop: any EventLoop, timeout: TimeAmount, delegate: WebSocketClientDelegate) -> WebSocketClient {
        let connection = WebSocketClient()
        let cause = WebSocketConnectionCause()
        let handler = WebSocketClientHandler(delegate: delegate, cause: cause)
        connection.gate = handler
        let loopBoundHandler = NIOLoopBound(handler, eventLoop: eventLoop)
        let loopBoundObserver = NIOLoopBound(UpgradeResponseObserver(cause: cause), eventLoop: eventLoop)
        let upgraded = eventLoop.makePromise(of: Void.self)
        connection.upgraded = upgraded
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            // The kernel's send buffer fixed at 32 KiB (64 KiB as Linux counts it), not
            // autotuned: to an agent that has stopped reading, Linux would otherwise buffer up to
            // 4 MB per connection (minutes of audio) before we could notice (`unreadLimit`). 64 KiB
            // in flight carry 320 KB/s at a 200 ms round trip, five times the largest uplink
            // (OpenAI's 24 kHz PCM16 in base64 JSON, 64 KB/s).
            .channelOption(.socketOption(.so_sndbuf), value: 32_768)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if url.tls {
                        var tls = TLSConfiguration.makeClientConfiguration()
                        if let pem = additionalTrustRootsPEM {
                            tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMBytes(pem))]
                        }
                        // SNI takes names only; for an IP literal the peer's address is verified instead.
                        try sync.addHandler(try NIOSSLClientHandler(context: try NIOSSLContext(configuration: tls), serverHostname: url.hostIsAddress ? nil : url.host))
                    }
                    let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: maximumMessageBytes, upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            channel.pipeline.syncOperations.removeHandler(loopBoundObserver.value, promise: nil)
                            try channel.pipeline.syncOperations.addHandler(NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1024, maxAccumulatedFrameSize: maximumMessageBytes))
                            try channel.pipeline.syncOperations.addHandler(loopBoundHandler.value)
                            // Open only now: the HTTP handlers are gone and the frame codec is in.
                            upgraded.succeed()
                        }
                    })
                    try sync.addHTTPClientHandlers(withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                    try sync.addHandler(loopBoundObserver.value)
                }
            }
        // The bootstrap's group is `eventLoop`: every callback below runs on it.
        bootstrap.connect(host: url.host, port: url.port).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                guard !connection.closing else { channel.close(promise: nil); return }
                connection.channel = channel
                var requestHeaders = HTTPHeaders()
                requestHeaders.add(name: "Host", value: url.hostHeader)
                requestHeaders.add(name: "Content-Length", value: "0")
                for (name, value) in headers { requestHeaders.add(name: name, value: value) }
                let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.target, headers: requestHeaders)
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                let timer = eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                    cause.record("HTTP: no answer to the upgrade within \(timeout.nanoseconds / 1_000_000) ms")
                    upgraded.fail(ChannelError.connectTimeout(timeout))
                }
                upgraded.futureResult.assumeIsolated().whenComplete { outcome in
                    timer.cancel()
                    switch outcome {
                    case .success:
                        connection.isUpgraded = true
                        if !connection.abandoned { delegate.webSocketOpened() }
                    case .failure: channel.close(promise: nil)
                    }
                }
                channel.closeFuture.assumeIsolated().whenComplete { _ in
                    upgraded.fail(ChannelError.ioOnClosedChannel)
                    guard !connection.abandoned else { return }
                    delegate.webSocketClosed(cause: cause.text ?? "the connection ended without a close frame")
                }
            case .failure(let error):
                upgraded.fail(error)
                guard !connection.abandoned else { return }
                delegate.webSocketClosed(cause: WebSocketFailure.describe(error))
            }
        }
        return connection
    }

    /// Sends one text message (client frames are masked, as RFC 6455 requires).
    func send(_ text: [UInt8]) { send(text, opcode: .text) }

    /// Sends one binary message.
    func send(binary: some Collection<UInt8>) { send(binary, opcode: .binary) }

    private func send(_ bytes: some Collection<UInt8>, opcode: WebSocketOpcode) {
        guard let channel, channel.isActive else { return }
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(), data: buffer), promise: nil)
    }

    func pauseReading(_ paused: Bool) { gate?.setPaused(paused) }

    /// Closes without telling the delegate anything more (it has moved to a new connection).
    func abandon() {
        abandoned = true
        gate?.detachDelegate()
        close()
    }

    func close() {
        closing = true
        upgraded?.fail(ChannelError.ioOnClosedChannel)
        guard let channel else { return }
        // A close frame only once the pipeline speaks WebSocket: written to the HTTP handlers
        // of an upgrade still pending, it would be a type error that stops the process.
        guard isUpgraded else { return channel.close(promise: nil) }
        var reason = channel.allocator.buffer(capacity: 2)
        reason.write(webSocketErrorCode: .normalClosure)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: reason), promise: nil)
        channel.close(promise: nil)
    }
}

/// Hands messages to the delegate, answers pings, and holds reads while paused.
final class WebSocketClientHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private weak var delegate: WebSocketClientDelegate?  // messages arriving after the agent is gone are dropped
    private let cause: WebSocketConnectionCause
    private var context: ChannelHandlerContext?
    private var paused = false
    private var readHeld = false

    init(delegate: WebSocketClientDelegate, cause: WebSocketConnectionCause) {
        self.delegate = delegate
        self.cause = cause
    }

    /// Messages still arriving on an abandoned connection go nowhere.
    func detachDelegate() { delegate = nil }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            delegate?.webSocketReceived(text: Array(frame.unmaskedData.readableBytesView))
        case .binary:
            delegate?.webSocketReceived(binary: frame.unmaskedData)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            cause.record(WebSocketFailure.closedByServer(frame.unmaskedData))
            context.close(promise: nil)
        default:
            break
        }
    }

    func read(context: ChannelHandlerContext) {
        if paused { readHeld = true } else { context.read() }
    }

    func setPaused(_ paused: Bool) {
        guard paused != self.paused else { return }
        self.paused = paused
        if !paused, readHeld, let context {
            readHeld = false
            context.read()
        }
    }

    /// How long the agent may leave our messages unread (NIO's outbound buffer past its
    /// high-water mark, the kernel's buffers full under it) before the connection is given up
    /// as hung and closed with that cause; the agent then reconnects as after any drop. A hung
    /// server keeps its TCP connection open forever, and without this the call's uplink would
    /// pile up in our memory for as long; with it, at most 5 s of messages wait.
    static let unreadLimit = TimeAmount.seconds(5)
    private var unreadTimer: Scheduled<Void>?

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            unreadTimer?.cancel()
            unreadTimer = nil
        } else if unreadTimer == nil {
            let channel = context.channel
            unreadTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.unreadLimit) { [cause] in
                cause.record("the agent stopped reading: our messages waited \(Self.unreadLimit.nanoseconds / 1_000_000_000) s")
                channel.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        unreadTimer?.cancel()
        unreadTimer = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        cause.record(WebSocketFailure.describe(error))
        delegate?.webSocketProtocolError(error)
        context.close(promise: nil)
    }
}
