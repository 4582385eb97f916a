// SPDX-License-Identifier: MIT
// One AudioSocket connection: the adapter between Asterisk's AudioSocket protocol (pure codec in
// AudioBridgeProtocols) and the call pipeline. The UUID message starts the call; audio (slin at
// the call's rate, any length) becomes 20 ms session frames; every tick one frame goes back in
// the caller's own kind, header and payload in one write. AudioSocket has no flush or marks: the
// frame a barge-in cuts is itself the cut. Everything runs on the connection's event loop.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore

final class AudioSocketSide: PhoneSide {
    let uuid: AudioSocketUUID
    private let channel: Channel
    private let maximumPayload: Int
    private let quality: Int
    /// 8 kHz caller audio, gathered into session frames.
    private let callerFrames: CallerFrameAssembler
    /// The session's frame, read each tick.
    private let frame: UnsafeMutableRawBufferPointer
    /// Reused for every outbound frame: once the socket has written it, NIO drops its
    /// reference and `clear()` reuses the storage instead of allocating.
    private var sendBuffer: ByteBuffer
    /// The call's audio rate, from its first audio message (fixed for the call, as in Asterisk).
    private(set) var sampleRate: Int?
    private var kind: UInt8 = AudioSocketMessage.audioKinds.first { $0.sampleRate == SessionConfiguration.phoneSampleRate }!.kind
    /// Converts to and from 8 kHz when the call uses another slin rate.
    private var otherRate: PCM16CallAudio?

    init(uuid: AudioSocketUUID, channel: Channel, frameBytes: Int, maximumPayload: Int, quality: Int) {
        self.uuid = uuid
        self.channel = channel
        self.maximumPayload = maximumPayload
        self.quality = quality
        callerFrames = CallerFrameAssembler(frameBytes: frameBytes)
        frame = .allocate(byteCount: frameBytes, alignment: 16)
        sendBuffer = channel.allocator.buffer(capacity: AudioSocketEncoder.headerBytes + frameBytes)
    }

    deinit { frame.deallocate() }

    /// Caller audio (slin at the call's rate, any even length) into the pipeline in whole frames.
    func receive(audio payload: ArraySlice<UInt8>, sampleRate rate: Int, into call: CallPipeline) throws {
        if sampleRate != rate {
            guard sampleRate == nil else { throw ProtocolViolation.sampleRateChanged(from: sampleRate!, to: rate) }
            try start(sampleRate: rate, call: call)
        }
        payload.withUnsafeBytes { bytes in
            if let otherRate {
                otherRate.append(bytes, into: call)
            } else {
                callerFrames.append(bytes, into: call)
            }
        }
    }

    /// The first audio message tells the call's rate; anything but 8 kHz gets resamplers.
    private func start(sampleRate rate: Int, call: CallPipeline) throws {
        guard let kind = AudioSocketEncoder.audioKind(sampleRate: rate) else { throw AudioBridgeError.unsupportedSampleRate }
        sampleRate = rate
        self.kind = kind
        guard rate != SessionConfiguration.phoneSampleRate else { return }
        let audio = try PCM16CallAudio(sampleRate: rate, channels: 1, sessionFrameSamples: frame.count / 2, quality: quality)
        otherRate = audio
        sendBuffer.reserveCapacity(AudioSocketEncoder.headerBytes + audio.maximumDownlinkBytes)
        call.logger.info("call audio is slin at \(rate) Hz: resampling to and from 8 kHz")
    }

    // MARK: PhoneSide

    /// Kept here rather than asked of the channel every tick (a call through NIO's existential
    /// and an atomic on a cold line): the handler clears it when the connection goes.
    private(set) var isOpen = true
    func connectionClosed() { isOpen = false }
    var isWritable: Bool { channel.isWritable }
    var sendsSilence: Bool { true }

    func readFrame(for call: CallPipeline) -> UnsafeRawBufferPointer? {
        // Nothing goes out before the caller's first audio: its kind tells the call's rate, and
        // Asterisk sends audio from the start, so this waits at most a frame.
        guard sampleRate != nil else { return nil }
        return call.readSessionFrame(into: frame)
    }

    func send(frame: UnsafeRawBufferPointer) {
        sendBuffer.clear()
        sendBuffer.writeWithUnsafeMutableBytes(minimumWritableBytes: sendBuffer.capacity) { out in
            let payload = UnsafeMutableRawBufferPointer(rebasing: out[AudioSocketEncoder.headerBytes...])
            let length: Int
            if let otherRate {
                length = otherRate.downlink(frame, into: payload)
            } else {
                payload.copyMemory(from: frame)
                length = frame.count
            }
            AudioSocketEncoder.writeAudioHeader(kind: kind, length: length, into: out)
            return AudioSocketEncoder.headerBytes + length
        }
        channel.writeAndFlush(sendBuffer, promise: nil)
    }

    func hangUp() { Self.hangUp(channel) }

    /// AudioSocket's hang-up (kind 0x00), then the socket closes.
    static func hangUp(_ channel: Channel) {
        var hangup = channel.allocator.buffer(capacity: 3)
        hangup.writeBytes([0x00, 0x00, 0x00])
        channel.writeAndFlush(hangup).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The connection's inbound handler: decodes AudioSocket and drives the call.
final class AudioSocketCallHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: AudioSocketServer
    private let pacer: CallPacer
    private var decoder: AudioSocketDecoder
    private var side: AudioSocketSide?
    private var call: CallPipeline?
    private var metrics: TransportMetrics { server.services.metrics[.audioSocket] }

    init(server: AudioSocketServer, pacer: CallPacer) {
        self.server = server
        self.pacer = pacer
        decoder = AudioSocketDecoder(maximumPayload: server.configuration.maximumPayload)
    }

    func channelActive(context: ChannelHandlerContext) {
        server.connections.add(context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        bytes.withUnsafeReadableBytes { decoder.append($0) }
        do {
            while let message = try decoder.next() { try handle(message, context: context) }
        } catch {
            metrics.add(.protocolErrors)
            server.logger.warning("closing connection: \(error)", metadata: ["call": "\(side.map { "\($0.uuid)" } ?? "-")"])
            context.close(promise: nil)
        }
    }

    private func handle(_ message: AudioSocketMessage, context: ChannelHandlerContext) throws {
        switch (message, call) {
        case (.uuid(let uuid), nil):
            if let refusal = server.services.admission.admit() {
                // AudioSocket's refusal: a hang-up message, then the socket closes.
                metrics.count(refusal)
                server.logger.notice("call refused: \(refusal == .atLimit ? "at --max-calls" : "draining")", metadata: ["call": "\(uuid)"])
                AudioSocketSide.hangUp(context.channel)
                return
            }
            let configuration = server.configuration
            let side = AudioSocketSide(uuid: uuid, channel: context.channel, frameBytes: configuration.call.session.frameBytes,
                                       maximumPayload: configuration.maximumPayload, quality: configuration.call.session.resamplerQuality)
            let observer = server.eventObserver.map { observe in { (event: SessionEvent) in observe(uuid, event) } }
            call = try CallPipeline(side: { _ in side }, callID: "\(uuid)", session: configuration.call.session, settings: configuration.call,
                                    metadata: [("callId", "\(uuid)")], services: server.services, transport: .audioSocket, pacer: pacer,
                                    eventLoop: context.eventLoop, logger: server.logger, observer: observer)
            self.side = side
        case (_, nil):
            throw ProtocolViolation.notStartedWithUUID
        case (.uuid, _):
            throw ProtocolViolation.secondUUID
        case (.audio(let rate, let payload), let call?):
            try side?.receive(audio: payload, sampleRate: rate, into: call)
        case (.dtmf(let digit), let call?):
            call.pressed(digit: digit)
        case (.hangup, _):
            server.logger.info("caller hung up", metadata: ["call": "\(side.map { "\($0.uuid)" } ?? "-")"])
            context.close(promise: nil)
        case (.error(let code), _):
            server.logger.warning("peer reported an error", metadata: ["code": "\(code.map(String.init) ?? "-")"])
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            metrics.add(.protocolErrors)
            server.logger.warning("closing idle connection", metadata: ["call": "\(side.map { "\($0.uuid)" } ?? "-")"])
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.connections.remove(context.channel)
        side?.connectionClosed()
        call?.end(reason: "connection closed")
        call = nil
        side = nil
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
