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

final class AudioSocketCall: PacedCall {
    let uuid: AudioSocketUUID
    let session: Session
    private let channel: Channel
    // Strong, not unowned: the server outlives its calls, and an unowned load costs a
    // retain/release pair on every access, several times per frame.
    private let server: AudioSocketServer
    private let logger: Logger
    /// 8 kHz caller audio, gathered into session frames.
    private let callerFrames: CallerFrameAssembler
    /// The session's outbound frame when it has to be resampled before sending.
    private let phoneFrame: UnsafeMutableBufferPointer<Int16>
    /// Reused for every outbound frame: once the socket has written it, NIO drops its
    /// reference and `clear()` reuses the storage instead of allocating.
    private var sendBuffer: ByteBuffer
    private let frameBytes: Int
    /// The call's audio rate, from its first audio message (fixed for the call, as in Asterisk).
    private var sampleRate: Int?
    /// Converts to and from 8 kHz when the call uses another slin rate.
    private var rateAdapter: CallRateAdapter?
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
        callerFrames = CallerFrameAssembler(frameBytes: frameBytes)
        phoneFrame = .allocate(capacity: session.media.frameSamples)
        sendBuffer = channel.allocator.buffer(capacity: AudioSocketEncoder.headerBytes + frameBytes)
        recorder = server.configuration.recordDirectory.map { CallRecorder(directory: $0, callID: "\(uuid)") }
        try engine.attach(try CallAgent.make(server.configuration.agent, realtime: server.configuration.realtime, pcmStream: server.configuration.pcmStream, metadata: [("callId", "\(uuid)")],
                                              eventLoop: channel.eventLoop, logger: logger), to: session)
    }

    deinit {
        phoneFrame.deallocate()
    }

    /// Caller audio (slin at the call's rate, any even length): fed to the session in whole
    /// 8 kHz frames.
    func receive(audio payload: ArraySlice<UInt8>, sampleRate rate: Int) throws {
        if sampleRate != rate {
            guard sampleRate == nil else { throw ProtocolViolation.sampleRateChanged(from: sampleRate!, to: rate) }
            try start(sampleRate: rate)
        }
        payload.withUnsafeBytes { bytes in
            if let rateAdapter {
                rateAdapter.toPhoneRate(bytes) { callerFrames.append($0, feedFrame) }
            } else {
                callerFrames.append(bytes, feedFrame)
            }
        }
    }

    /// The first audio message tells the call's rate; anything but 8 kHz gets resamplers.
    private func start(sampleRate rate: Int) throws {
        sampleRate = rate
        guard rate != SessionConfiguration.phoneSampleRate else { return }
        let adapter = try CallRateAdapter(sampleRate: rate, quality: server.configuration.session.resamplerQuality,
                                          maximumPayload: server.configuration.maximumPayload, frameSamples: phoneFrame.count)
        rateAdapter = adapter
        sendBuffer.reserveCapacity(AudioSocketEncoder.headerBytes + adapter.maximumFrameBytes)
        logger.info("call audio is slin at \(rate) Hz: resampling to and from 8 kHz")
    }

    private func feedFrame(_ frame: UnsafeRawBufferPointer) {
        do {
            try session.media.writeCaller(frame)
            recorder?.recordCaller(frame)
        } catch {
            logger.error("caller frame rejected: \(error)")
        }
        server.countFrameIn()
    }

    /// The call is over: write its recording, if any, off the event loop.
    func finish() { recorder?.finish(on: channel.eventLoop, logger: logger) }

    /// The session's next frame as the call's payload, at the call's rate; 0 if there is none.
    private func nextPayload(into payload: UnsafeMutableRawBufferPointer) -> Int {
        guard let rateAdapter else {
            let length = (try? session.media.readCaller(into: payload)) ?? 0
            if length > 0 { recorder?.recordHeard(UnsafeRawBufferPointer(rebasing: payload[..<length])) }
            return length
        }
        let length = (try? session.media.readCaller(into: UnsafeMutableRawBufferPointer(phoneFrame))) ?? 0
        guard length > 0 else { return 0 }
        recorder?.recordHeard(UnsafeRawBufferPointer(phoneFrame))
        return rateAdapter.fromPhoneRate(UnsafeBufferPointer(phoneFrame), into: payload)
    }

    func dtmf(_ digit: UInt8) {
        try? session.media.callerPressed(digit: digit)
    }

    /// The pacer's 20 ms tick: one frame to Asterisk (header and payload in one write), then the
    /// session's events.
    func sendFrame() {
        // Nothing goes out before the caller's first audio: its kind tells the call's rate, and
        // Asterisk sends audio from the start, so this waits at most a frame.
        guard channel.isActive, sampleRate != nil else { return }
        if channel.isWritable {
            sendBuffer.clear()
            let kind = rateAdapter?.kind ?? 0x10
            let written = sendBuffer.writeWithUnsafeMutableBytes(minimumWritableBytes: sendBuffer.capacity) { out in
                let payload = UnsafeMutableRawBufferPointer(rebasing: out[AudioSocketEncoder.headerBytes...])
                let length = nextPayload(into: payload)
                guard length > 0 else { return 0 }
                AudioSocketEncoder.writeAudioHeader(kind: kind, length: length, into: out)
                return AudioSocketEncoder.headerBytes + length
            }
            if written > 0 {
                channel.writeAndFlush(sendBuffer, promise: nil)
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
            case .bargeInPending:
                server.count { $0.bargeInPauses += 1 }
                server.metrics.bargeInPauses.increment()
                logger.debug("barge-in pending", metadata: ["item": "\(event.item)", "heard_ms": "\(event.heardMilliseconds)"])
            case .bargeInResumed:
                server.count { $0.bargeInResumes += 1 }
                server.metrics.bargeInResumes.increment()
                logger.debug("barge-in resumed", metadata: ["item": "\(event.item)", "paused_ms": "\(event.count)"])
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

    private let server: AudioSocketServer
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
            try call.receive(audio: payload, sampleRate: rate)
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
    case sampleRateChanged(from: Int, to: Int)
}
