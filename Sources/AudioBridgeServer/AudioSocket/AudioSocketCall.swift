// SPDX-License-Identifier: MIT
// One AudioSocket call: the adapter between Asterisk's AudioSocket protocol (pure codec in
// AudioBridgeProtocols) and the call pipeline. The UUID message starts the call; audio (slin at
// the call's rate, any length) becomes 20 ms session frames; every tick one frame goes back in
// the caller's own kind, header and payload in one send on the connection. AudioSocket has no
// flush or marks: the frame a barge-in cuts is itself the cut. Everything runs on the
// connection's event loop.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging

final class AudioSocketSide: PhoneSide {
    let uuid: AudioSocketUUID
    private let connection: AudioSocketConnection
    private let quality: Int
    /// 8 kHz caller audio, gathered into session frames.
    private let callerFrames: CallerFrameAssembler
    private let frameBytes: Int
    /// Every outbound message (header and payload) is built here.
    private var sendBuffer: UnsafeMutableRawBufferPointer
    /// Where the session's frame is read each tick. At 8 kHz it is the send buffer's payload,
    /// so the frame goes out with no copy (a copy was one more cold buffer a frame); a call
    /// resampled to another rate (`otherRate`) reads into a buffer of its own.
    private var frame: UnsafeMutableRawBufferPointer
    /// The call's audio rate, from its first audio message (fixed for the call, as in Asterisk).
    private(set) var sampleRate: Int?
    private var kind: UInt8 = AudioSocketMessage.audioKinds.first { $0.sampleRate == SessionConfiguration.phoneSampleRate }!.kind
    /// Converts to and from 8 kHz when the call uses another slin rate.
    private var otherRate: PCM16CallAudio?

    init(uuid: AudioSocketUUID, connection: AudioSocketConnection, frameBytes: Int, quality: Int) {
        self.uuid = uuid
        self.connection = connection
        self.quality = quality
        callerFrames = CallerFrameAssembler(frameBytes: frameBytes)
        self.frameBytes = frameBytes
        sendBuffer = .allocate(byteCount: AudioSocketEncoder.headerBytes + frameBytes, alignment: 16)
        frame = UnsafeMutableRawBufferPointer(rebasing: sendBuffer[AudioSocketEncoder.headerBytes...])
    }

    deinit {
        if otherRate != nil { frame.deallocate() }
        sendBuffer.deallocate()
    }

    var hotMemory: HotMemory {
        var memory = HotMemory()
        memory.add(self)
        memory.add(connection)
        memory.add(callerFrames)
        memory.add(UnsafeRawPointer(sendBuffer.baseAddress), bytes: sendBuffer.count)
        return memory
    }

    /// Caller audio (slin at the call's rate, any even length) into the pipeline in whole frames.
    func receive(audio bytes: UnsafeRawBufferPointer, sampleRate rate: Int, into call: CallPipeline) throws {
        if sampleRate != rate {
            guard sampleRate == nil else { throw ProtocolViolation.sampleRateChanged(from: sampleRate!, to: rate) }
            try start(sampleRate: rate, call: call)
        }
        if let otherRate {
            otherRate.append(bytes, into: call)
        } else {
            callerFrames.append(bytes, into: call)
        }
    }

    /// The first audio message tells the call's rate; anything but 8 kHz gets resamplers.
    private func start(sampleRate rate: Int, call: CallPipeline) throws {
        guard let kind = AudioSocketEncoder.audioKind(sampleRate: rate) else { throw AudioBridgeError.unsupportedSampleRate }
        sampleRate = rate
        self.kind = kind
        guard rate != SessionConfiguration.phoneSampleRate else { return }
        let audio = try PCM16CallAudio(sampleRate: rate, channels: 1, sessionFrameSamples: frameBytes / 2, quality: quality)
        otherRate = audio
        frame = .allocate(byteCount: frameBytes, alignment: 16)
        sendBuffer.deallocate()
        sendBuffer = .allocate(byteCount: AudioSocketEncoder.headerBytes + audio.maximumDownlinkBytes, alignment: 16)
        call.logger.info("call audio is slin at \(rate) Hz: resampling to and from 8 kHz")
    }

    // MARK: PhoneSide

    /// Kept here, one load on the call's own line: the connection clears it when it closes.
    private(set) var isOpen = true
    func connectionClosed() { isOpen = false }
    var isWritable: Bool { connection.isWritable }
    var sendsSilence: Bool { true }

    func readFrame(for call: CallPipeline) -> UnsafeRawBufferPointer? {
        // Nothing goes out before the caller's first audio: its kind tells the call's rate, and
        // Asterisk sends audio from the start, so this waits at most a frame.
        guard sampleRate != nil else { return nil }
        return call.readSessionFrame(into: frame)
    }

    func send(frame: UnsafeRawBufferPointer) {
        let payload = UnsafeMutableRawBufferPointer(rebasing: sendBuffer[AudioSocketEncoder.headerBytes...])
        let length: Int
        if let otherRate {
            length = otherRate.downlink(frame, into: payload)
        } else {
            // `readFrame` read it into the payload already.
            assert(frame.baseAddress == UnsafeRawPointer(payload.baseAddress))
            length = frame.count
        }
        AudioSocketEncoder.writeAudioHeader(kind: kind, length: length, into: sendBuffer)
        connection.write(UnsafeRawBufferPointer(rebasing: sendBuffer[..<(AudioSocketEncoder.headerBytes + length)]))
    }

    func hangUp() { connection.hangUp() }
    func drop() { connection.close() }
}
