// SPDX-License-Identifier: MIT
// One AudioSocket connection: the thin NIO shell around the pure codec and a session. Everything
// here runs on the connection's event loop: caller frames go into the session as they arrive
// (re-framed to exactly 20 ms), and the loop's pacer takes one frame out every 20 ms.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import Metrics
import NIOCore

final class AudioSocketCall {
    let uuid: AudioSocketUUID
    let session: Session
    private let channel: Channel
    private unowned let server: AudioSocketServer
    private let logger: Logger
    /// Caller audio waiting to fill a 20 ms frame (Asterisk may send other even lengths).
    private var pendingCaller: [UInt8] = []
    private var outbound: [UInt8]
    private let frameBytes: Int
    private let recorder: CallRecorder?
    var frameProcessingTimer: Metrics.Timer { server.metrics.frameProcessing }

    init(uuid: AudioSocketUUID, channel: Channel, server: AudioSocketServer, engine: Engine) throws {
        self.uuid = uuid
        self.channel = channel
        self.server = server
        var logger = server.logger
        logger[metadataKey: "call"] = "\(uuid)"
        self.logger = logger
        session = try Session(configuration: server.configuration.session)
        frameBytes = session.media.frameBytes
        outbound = [UInt8](repeating: 0, count: frameBytes)
        pendingCaller.reserveCapacity(frameBytes)
        recorder = server.configuration.recordDirectory.map { CallRecorder(directory: $0, callID: "\(uuid)") }
        try engine.attach(try LocalAgentURI.makeAgent(server.configuration.agent), to: session)
    }

    /// Caller audio (8 kHz slin, any even length): fed to the session in whole frames.
    func receive(audio payload: [UInt8]) {
        var offset = 0
        while offset < payload.count {
            let take = min(frameBytes - pendingCaller.count, payload.count - offset)
            pendingCaller += payload[offset..<offset + take]
            offset += take
            if pendingCaller.count == frameBytes {
                do {
                    try pendingCaller.withUnsafeBytes { try session.media.writeCaller($0) }
                    recorder?.recordCaller(pendingCaller)
                } catch {
                    logger.error("caller frame rejected: \(error)")
                }
                pendingCaller.removeAll(keepingCapacity: true)
                server.countFrameIn()
            }
        }
    }

    /// The call is over: write its recording, if any, off the event loop.
    func finish() { recorder?.finish(on: channel.eventLoop, logger: logger) }

    func dtmf(_ digit: UInt8) {
        try? session.media.callerPressed(digit: digit)
    }

    /// The pacer's 20 ms tick: one frame to Asterisk (header and payload in one write), then the
    /// session's events.
    func sendFrame() {
        guard channel.isActive else { return }
        if channel.isWritable {
            let written = (try? outbound.withUnsafeMutableBytes { try session.media.readCaller(into: $0) }) ?? 0
            if written > 0 {
                var buffer = channel.allocator.buffer(capacity: 3 + written)
                buffer.writeBytes(AudioSocketEncoder.audioHeader(kind: 0x10, length: written))
                buffer.writeBytes(outbound[..<written])
                channel.writeAndFlush(buffer, promise: nil)
                recorder?.recordHeard(outbound[..<written])
                server.countFrameOut()
            }
        } else {
            // The peer is not reading: keep the agent's audio queued rather than pile up frames.
            server.count { $0.sendStalls += 1 }
            server.metrics.sendStalls.increment()
        }
        while let event = session.pollEvent() {
            switch event.kind {
            case .bargeIn:
                server.count { $0.bargeIns += 1 }
                server.metrics.bargeIns.increment()
                logger.info("barge-in", metadata: ["item": "\(event.item)", "heard_ms": "\(event.heardMilliseconds)"])
            case .dtmf:
                server.count { $0.dtmf += 1 }
                server.metrics.dtmf.increment()
                logger.info("dtmf", metadata: ["digit": "\(Character(Unicode.Scalar(event.digit)))"])
            case .transportError, .uplinkOverflow, .eventsDropped:
                logger.warning("session event \(event.kind)", metadata: ["code": "\(event.code)", "count": "\(event.count)"])
            default:
                logger.debug("session event \(event.kind)", metadata: ["item": "\(event.item)"])
            }
            server.eventObserver?(uuid, event)
        }
    }
}

/// The connection's inbound handler: decodes AudioSocket and drives the call.
final class AudioSocketCallHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private unowned let server: AudioSocketServer
    private let pacer: CallPacer
    private var decoder: AudioSocketDecoder
    private var call: AudioSocketCall?

    init(server: AudioSocketServer, pacer: CallPacer) {
        self.server = server
        self.pacer = pacer
        decoder = AudioSocketDecoder(maximumPayload: server.configuration.maximumPayload)
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        server.calls.withLockedValue { $0[ObjectIdentifier(channel)] = channel }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        decoder.append(bytes.readableBytesView)
        do {
            while let message = try decoder.next() { try handle(message, context: context) }
        } catch {
            server.count { $0.protocolErrors += 1 }
            server.metrics.protocolErrors.increment()
            server.logger.warning("closing connection: \(error)", metadata: ["call": "\(call.map { "\($0.uuid)" } ?? "-")"])
            context.close(promise: nil)
        }
    }

    private func handle(_ message: AudioSocketMessage, context: ChannelHandlerContext) throws {
        switch (message, call) {
        case (.uuid(let uuid), nil):
            let call = try AudioSocketCall(uuid: uuid, channel: context.channel, server: server, engine: pacer.engine)
            self.call = call
            pacer.add(call)
            server.count { $0.activeCalls += 1; $0.totalCalls += 1 }
            server.metrics.calls.increment()
            server.metrics.activeCalls.record(server.snapshot.activeCalls)
            server.logger.info("call started", metadata: ["call": "\(uuid)"])
        case (_, nil):
            throw ProtocolViolation.notStartedWithUUID
        case (.uuid, _):
            throw ProtocolViolation.secondUUID
        case (.audio(let rate, let payload), let call?):
            guard rate == 8000 else { throw ProtocolViolation.unsupportedSampleRate(rate) }
            call.receive(audio: payload)
        case (.dtmf(let digit), let call?):
            call.dtmf(digit)
        case (.hangup, _):
            server.logger.info("caller hung up", metadata: ["call": "\(call.map { "\($0.uuid)" } ?? "-")"])
            context.close(promise: nil)
        case (.error(let code), _):
            server.logger.warning("peer reported an error", metadata: ["code": "\(code.map(String.init) ?? "-")"])
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            server.count { $0.protocolErrors += 1 }
            server.metrics.protocolErrors.increment()
            server.logger.warning("closing idle connection", metadata: ["call": "\(call.map { "\($0.uuid)" } ?? "-")"])
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let channel = context.channel
        server.calls.withLockedValue { $0[ObjectIdentifier(channel)] = nil }
        if let call {
            pacer.remove(call)
            pacer.engine.detach(call.session)
            call.finish()
            let underruns = Int(call.session.statistics.underrunFrames)
            server.count { $0.activeCalls -= 1; $0.underrunFrames += underruns }
            server.metrics.activeCalls.record(server.snapshot.activeCalls)
            server.metrics.underruns.increment(by: underruns)
            server.logger.info("call ended", metadata: ["call": "\(call.uuid)", "frames_in": "\(call.session.statistics.framesIn)"])
            self.call = nil
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Mostly a peer resetting the connection at hang-up: worth a note, not a warning.
        server.logger.info("connection error: \(error)")
        context.close(promise: nil)
    }
}

enum ProtocolViolation: Error {
    case notStartedWithUUID
    case secondUUID
    case unsupportedSampleRate(Int)
}
