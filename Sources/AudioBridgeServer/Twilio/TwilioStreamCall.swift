// SPDX-License-Identifier: MIT
// One Twilio Media Stream: the adapter between Twilio's messages (pure codec in
// AudioBridgeProtocols) and the call pipeline. Caller μ-law goes to the pipeline as it arrives
// (re-framed to 160 bytes); every tick one `media` message goes out, written into a reused
// buffer, so Twilio's playout buffer stays about a frame deep and a `clear` takes effect at
// once. After the last frame of each agent item a `mark` follows; Twilio echoes it when the
// caller has heard the item to its end, and only then is the item's playoutFinished reported.
// A committed barge-in sends `clear`, which empties Twilio's buffer (Twilio still echoes the
// marks it dropped, so they stay pending).
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore
import NIOWebSocket

final class TwilioStreamSide: PhoneSide {
    let start: TwilioStreamStart
    private let channel: Channel
    private let callerFrames: CallerFrameAssembler
    private let frame: UnsafeMutableRawBufferPointer
    private let media: TwilioMediaMessageWriter
    /// Reused for every `media` message (with room in front for the WebSocket header): once
    /// the socket has written one, NIO drops its reference and the next reuses the storage.
    private var sendBuffer: ByteBuffer
    private let writer: WebSocketMediaWriter?
    /// Inbound media messages, unmasked here, and their decoded payload: Twilio's 50 messages a
    /// second are read without allocating (larger messages take the full decoder).
    private let message = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
    private let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 1536, alignment: 16)

    /// The call's REST resource, when the API is configured.
    private let updater: TwilioCallUpdater?
    private let logger: Logger

    init(start: TwilioStreamStart, channel: Channel, frameBytes: Int, restAPI: TwilioRESTConfiguration?, logger: Logger) {
        self.start = start
        self.channel = channel
        updater = restAPI.map { TwilioCallUpdater(configuration: $0, accountSid: start.accountSid, callSid: start.callSid) }
        self.logger = logger
        callerFrames = CallerFrameAssembler(frameBytes: frameBytes)
        frame = .allocate(byteCount: frameBytes, alignment: 16)
        media = TwilioMediaMessageWriter(streamSid: start.streamSid)
        sendBuffer = channel.allocator.buffer(capacity: WebSocketMediaWriter.headerRoom + media.count(payloadBytes: frameBytes))
        writer = WebSocketMediaWriter(channel: channel)
    }

    deinit {
        frame.deallocate()
        message.deallocate()
        payload.deallocate()
    }

    /// Caller audio (μ-law, any length) into the pipeline in whole frames.
    func receive(audio payload: [UInt8], into call: CallPipeline) {
        payload.withUnsafeBytes { callerFrames.append($0, into: call) }
    }

    /// A TEXT frame that is a plain `media` message, taken without building a JSON value (its
    /// caller audio fed to the call, another track's ignored); false for anything else, which
    /// the full decoder then reads.
    func receiveMedia(_ frame: WebSocketFrame, into call: CallPipeline) -> Bool {
        let length = frame.data.readableBytes
        guard length <= message.count else { return false }
        frame.data.withUnsafeReadableBytes { bytes in
            if let key = frame.maskKey {
                let at = key.startIndex
                let mask = (key[at], key[key.index(at, offsetBy: 1)], key[key.index(at, offsetBy: 2)], key[key.index(at, offsetBy: 3)])
                var i = 0
                while i + 4 <= length {
                    message[i] = bytes[i] ^ mask.0
                    message[i + 1] = bytes[i + 1] ^ mask.1
                    message[i + 2] = bytes[i + 2] ^ mask.2
                    message[i + 3] = bytes[i + 3] ^ mask.3
                    i += 4
                }
                while i < length {
                    message[i] = bytes[i] ^ (i & 3 == 0 ? mask.0 : i & 3 == 1 ? mask.1 : mask.2)
                    i += 1
                }
            } else {
                message.copyMemory(from: bytes)
            }
        }
        let text = UnsafeRawBufferPointer(rebasing: message[..<length])
        guard let scan = TwilioMediaScan.scan(text) else { return false }
        guard scan.inbound else { return true }
        guard scan.payload.count / 4 * 3 <= payload.count,
              let decoded = try? Base64.decode(UnsafeRawBufferPointer(rebasing: text[scan.payload]), into: payload) else { return false }
        callerFrames.append(UnsafeRawBufferPointer(rebasing: payload[..<decoded]), into: call)
        return true
    }

    // MARK: PhoneSide

    var isOpen: Bool { channel.isActive }
    var isWritable: Bool { channel.isWritable }
    var sendsSilence: Bool { true }
    var flushDropsMarks: Bool { false }

    func readFrame(for call: CallPipeline) -> UnsafeRawBufferPointer? {
        call.readSessionFrame(into: frame)
    }

    func send(frame: UnsafeRawBufferPointer) {
        WebSocketMediaWriter.prepare(&sendBuffer)
        sendBuffer.writeWithUnsafeMutableBytes(minimumWritableBytes: media.count(payloadBytes: frame.count)) { out in
            media.write(payload: frame, into: out)
        }
        if let writer {
            writer.write(&sendBuffer, opcode: WebSocketFrameHeader.textOpcode)
        } else {
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: sendBuffer), promise: nil)
        }
    }

    func flush() -> Bool {
        send(.clear)
        return true
    }

    func mark(name: String) -> Bool {
        send(.mark(name: name))
        return true
    }

    func hangUp() { TwilioStreamHandler.close(channel, code: .goingAway) }
    func drop() { channel.close(promise: nil) }

    var abilities: CallControlAbilities { CallControlAbilities(transfer: updater != nil) }

    /// The phone call itself ends through the REST API; the stream closes either way.
    func endCall() {
        guard let updater else {
            logger.warning("end_call closes the stream only: without the REST API (TWILIO_AUTH_TOKEN) Twilio goes on to the call's next TwiML verb")
            return hangUp()
        }
        let channel = channel
        let logger = logger
        updater.complete(on: channel.eventLoop) { outcome in
            if case .refused(let reason) = outcome { logger.warning("Twilio call not completed", metadata: ["cause": "\(reason)"]) }
            TwilioStreamHandler.close(channel, code: .goingAway)
        }
    }

    func transfer(to target: String, completion: @escaping (CallControlOutcome) -> Void) {
        guard let updater else { return completion(.refused("transfers need Twilio's REST API (TWILIO_AUTH_TOKEN)")) }
        updater.transfer(to: target, on: channel.eventLoop, completion: completion)
    }

    /// A control message (clear, mark): once per item or barge-in, not per frame.
    private func send(_ message: TwilioOutbound) {
        let bytes = TwilioMediaStreamCodec.encode(message, streamSid: start.streamSid)
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: buffer), promise: nil)
    }
}

/// The stream's WebSocket handler: decodes Twilio's messages and drives the call.
final class TwilioStreamHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let server: TwilioServer
    private let pacer: CallPacer
    private var side: TwilioStreamSide?
    private var call: CallPipeline?
    private var metrics: TransportMetrics { server.services.metrics[.twilio] }

    init(server: TwilioServer, pacer: CallPacer) {
        self.server = server
        self.pacer = pacer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        server.connections.add(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            if let call, let side, side.receiveMedia(frame, into: call) { return }
            do {
                try handle(TwilioMediaStreamCodec.decode(Array(frame.unmaskedData.readableBytesView)), context: context)
            } catch {
                close(context: context, code: .unacceptableData, reason: "\(error)")
            }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            Self.close(context.channel, code: .normalClosure)
        case .binary:
            // Twilio sends JSON in text frames only; binary is someone else's protocol.
            close(context: context, code: .unacceptableData, reason: "binary frame")
        default:
            break
        }
    }

    private func handle(_ message: TwilioInbound, context: ChannelHandlerContext) throws {
        switch (message, call) {
        case (.connected, _):
            break
        case (.start(let start), nil):
            guard start.encoding == "audio/x-mulaw", start.sampleRate == 8000, start.channels == 1 else {
                throw TwilioStreamViolation.unsupportedFormat(start.encoding, start.sampleRate)
            }
            if let refusal = server.services.admission.admit() {
                // Checked before the upgrade too (503); this is a call that raced past it.
                metrics.count(refusal)
                server.logger.notice("stream refused: \(refusal == .atLimit ? "at --max-calls" : "draining")", metadata: ["stream": "\(start.streamSid)"])
                Self.close(context.channel, code: .unknown(1013))
                return
            }
            let side = TwilioStreamSide(start: start, channel: context.channel, frameBytes: server.configuration.call.session.frameBytes,
                                        restAPI: server.configuration.restAPI, logger: server.logger)
            let sid = start.streamSid
            let observer = server.observer.map { observe in { (event: SessionEvent) in observe(sid, .session(event)) } }
            call = try CallPipeline(side: { _ in side }, callID: start.streamSid, session: server.configuration.call.session, settings: server.configuration.call,
                                    metadata: start.customParameters, services: server.services, transport: .twilio, pacer: pacer,
                                    eventLoop: context.eventLoop, logger: server.logger, observer: observer)
            self.side = side
            server.observer?(start.streamSid, .started(start))
        case (.start, _?):
            throw TwilioStreamViolation.secondStart
        case (.media(let track, _, _, let payload), let call?):
            if track == "inbound" { side?.receive(audio: payload, into: call) }
        case (.dtmf(let digit), let call?):
            call.pressed(digit: digit)
        case (.mark(let name), let call?):
            call.markConfirmed(name)
            server.observer?(call.callID, .markPlayed(name: name))
        case (.stop, _):
            logger.info("stream stopped by Twilio")
            if let call { server.observer?(call.callID, .stopped) }
            context.close(promise: nil)
        case (.unknown(let event), _):
            metrics.add(.ignoredMessages)
            server.logger.debug("ignoring unknown Twilio event", metadata: ["event": "\(event)"])
        case (_, nil):
            throw TwilioStreamViolation.mediaBeforeStart
        }
    }

    /// The call's logger (its id, transport and agent on every line) once the stream has started.
    private var logger: Logger { call?.logger ?? server.logger }

    private func close(context: ChannelHandlerContext, code: WebSocketErrorCode, reason: String) {
        metrics.add(.protocolErrors)
        logger.warning("closing stream: \(reason)")
        Self.close(context.channel, code: code)
    }

    /// A close frame with `code`, then the socket.
    static func close(_ channel: Channel, code: WebSocketErrorCode) {
        var data = channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)).whenComplete { _ in channel.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            close(context: context, code: .policyViolation, reason: "no message for \(server.configuration.idleTimeoutSeconds) s")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.connections.remove(context.channel)
        call?.end(reason: "stream closed")
        call = nil
        side = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // NIO's frame decoder closes a frame over the limit or a broken one itself (1009, 1002).
        if error is NIOWebSocketError { metrics.add(.protocolErrors) }
        logger.info("stream connection error: \(error)")
        context.close(promise: nil)
    }
}

enum TwilioStreamViolation: Error {
    case mediaBeforeStart
    case secondStart
    case unsupportedFormat(String, Int)
}
