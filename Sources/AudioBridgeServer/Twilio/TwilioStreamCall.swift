// SPDX-License-Identifier: MIT
// One Twilio Media Stream: the thin NIO shell around the pure Twilio codec and a session. Caller
// μ-law goes into the session as it arrives (re-framed to 160 bytes); the loop's pacer sends one
// 20 ms `media` message per tick, so Twilio's playout buffer stays about a frame deep and a
// `clear` takes effect at once. After the last frame of each agent item a `mark` follows; Twilio
// echoes it when the caller has heard the item to its end, and only then is the item's
// playoutFinished reported (to the observer, metrics and logs). On barge-in the session cuts its
// own playout and we send `clear`, which empties Twilio's buffer as well.
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import Metrics
import NIOCore
import NIOWebSocket

final class TwilioStreamCall: PacedCall {
    let start: TwilioStreamStart
    let session: Session
    private let channel: Channel
    private let server: TwilioServer
    private let logger: Logger
    private let callerFrames: CallerFrameAssembler
    private var outbound: [UInt8]
    /// playoutFinished events waiting for Twilio's echo of their mark.
    private var marks = PendingMarks()
    let frameProcessingTimer: Metrics.Timer

    init(start: TwilioStreamStart, channel: Channel, server: TwilioServer, engine: Engine) throws {
        self.start = start
        self.channel = channel
        self.server = server
        var logger = server.logger
        logger[metadataKey: "stream"] = "\(start.streamSid)"
        self.logger = logger
        session = try Session(configuration: server.configuration.session)
        outbound = [UInt8](repeating: 0xFF, count: session.media.frameBytes)
        callerFrames = CallerFrameAssembler(frameBytes: session.media.frameBytes)
        frameProcessingTimer = Metrics.Timer(label: "audiobridge_twilio_frame_processing_seconds")
        try engine.attach(try CallAgent.make(server.configuration.agent, realtime: server.configuration.realtime, pcmStream: server.configuration.pcmStream, metadata: start.customParameters,
                                              eventLoop: channel.eventLoop, logger: logger), to: session)
    }

    /// Caller audio (μ-law, any length): fed to the session in whole frames.
    func receive(audio payload: [UInt8]) {
        payload.withUnsafeBytes { callerFrames.append($0, feedFrame) }
    }

    private func feedFrame(_ frame: UnsafeRawBufferPointer) {
        do {
            try session.media.writeCaller(frame)
        } catch {
            logger.error("caller frame rejected: \(error)")
        }
        server.count { $0.framesIn += 1 }
    }

    func dtmf(_ digit: UInt8) { try? session.media.callerPressed(digit: digit) }

    /// The pacer's 20 ms tick: one `media` message, then the session's events (marks, clears).
    func sendFrame() {
        guard channel.isActive else { return }
        let written = (try? outbound.withUnsafeMutableBytes { try session.media.readCaller(into: $0) }) ?? 0
        if written > 0, channel.isWritable {
            send(.media(payload: Array(outbound[..<written])))
            server.count { $0.framesOut += 1 }
        }
        while let event = session.pollEvent() {
            switch event.kind {
            case .playoutFinished:
                // Everything of the item has been handed to Twilio; its echo will say it was heard.
                send(.mark(name: marks.add(event)))
                server.count { $0.marksSent += 1 }
                continue
            case .bargeIn:
                send(.clear)
                server.count { $0.clears += 1; $0.bargeIns += 1 }
                logger.info("barge-in", metadata: ["item": "\(event.item)", "heard_ms": "\(event.heardMilliseconds)", "cause": "\(event.code)"])
            case .bargeInPending:
                // The session sends silence while paused: Twilio's buffer is a frame deep, so
                // the caller hears the pause at once and nothing needs clearing.
                server.count { $0.bargeInPauses += 1 }
                logger.debug("barge-in pending", metadata: ["item": "\(event.item)", "heard_ms": "\(event.heardMilliseconds)"])
            case .bargeInResumed:
                server.count { $0.bargeInResumes += 1 }
                logger.debug("barge-in resumed", metadata: ["item": "\(event.item)", "paused_ms": "\(event.count)"])
            case .dtmf:
                server.count { $0.dtmf += 1 }
            default:
                break
            }
            server.observer?(start.streamSid, .session(event))
        }
    }

    func markEchoed(_ name: String) {
        server.count { $0.marksEchoed += 1 }
        if let finished = marks.confirm(name) { server.observer?(start.streamSid, .session(finished)) }
        server.observer?(start.streamSid, .markPlayed(name: name))
    }

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
    private var call: TwilioStreamCall?

    init(server: TwilioServer, pacer: CallPacer) {
        self.server = server
        self.pacer = pacer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        server.streams.withLockedValue { $0[ObjectIdentifier(channel)] = channel }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            do {
                try handle(TwilioMediaStreamCodec.decode(Array(frame.unmaskedData.readableBytesView)), context: context)
            } catch {
                close(context: context, code: .unacceptableData, reason: "\(error)")
            }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            closeHandshake(context: context, code: .normalClosure)
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
            let call = try TwilioStreamCall(start: start, channel: context.channel, server: server, engine: pacer.engine)
            self.call = call
            pacer.add(call)
            server.count { $0.activeCalls += 1; $0.totalCalls += 1 }
            server.logger.info("stream started", metadata: ["stream": "\(start.streamSid)", "call": "\(start.callSid)",
                                                            "parameters": "\(start.customParameters.map { "\($0.0)=\($0.1)" }.joined(separator: " "))"])
            server.observer?(start.streamSid, .started(start))
        case (.start, _?):
            throw TwilioStreamViolation.secondStart
        case (.media(let track, _, _, let payload), let call?):
            if track == "inbound" { call.receive(audio: payload) }
        case (.dtmf(let digit), let call?):
            call.dtmf(digit)
        case (.mark(let name), let call?):
            call.markEchoed(name)
        case (.stop, _):
            server.logger.info("stream stopped by Twilio")
            if let call { server.observer?(call.start.streamSid, .stopped) }
            context.close(promise: nil)
        case (.unknown(let event), _):
            server.count { $0.unknownEvents += 1 }
            server.logger.debug("ignoring unknown Twilio event", metadata: ["event": "\(event)"])
        case (_, nil):
            throw TwilioStreamViolation.mediaBeforeStart
        }
    }

    private func close(context: ChannelHandlerContext, code: WebSocketErrorCode, reason: String) {
        server.count { $0.protocolErrors += 1 }
        server.logger.warning("closing stream: \(reason)", metadata: ["stream": "\(call?.start.streamSid ?? "-")"])
        closeHandshake(context: context, code: code)
    }

    /// A close frame with `code`, then the socket.
    private func closeHandshake(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))).whenComplete { _ in channel.close(promise: nil) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            close(context: context, code: .policyViolation, reason: "no message for \(server.configuration.idleTimeoutSeconds) s")
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let channel = context.channel
        server.streams.withLockedValue { $0[ObjectIdentifier(channel)] = nil }
        if let call {
            pacer.remove(call)
            pacer.engine.detach(call.session)
            server.count { $0.activeCalls -= 1 }
            server.logger.info("stream ended", metadata: ["stream": "\(call.start.streamSid)", "frames_in": "\(call.session.statistics.framesIn)"])
            self.call = nil
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        server.logger.info("stream connection error: \(error)")
        context.close(promise: nil)
    }
}

enum TwilioStreamViolation: Error {
    case mediaBeforeStart
    case secondStart
    case unsupportedFormat(String, Int)
}
