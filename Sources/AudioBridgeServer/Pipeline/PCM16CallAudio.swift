// SPDX-License-Identifier: MIT
// Call audio that is linear PCM16 little-endian at the call's own rate — AudioSocket's slin12 …
// slin192 kinds, FreeSWITCH's forks (8 … 48 kHz, mono or stereo interleaved), chan_websocket's
// slin16 — to and from the session's 8 kHz mono frames. Caller audio comes in pieces of any
// length (an odd byte or half a stereo sample carries over to the next piece); of a stereo
// stream the first channel (the caller) is taken. Agent frames go back mono at the call's rate.
// Bytes are read one by one, so a payload may sit at any offset of a socket buffer. Every
// buffer is allocated with the call; nothing allocates per frame.
import AudioBridgeCore
import AudioBridgeSession

final class PCM16CallAudio {
    let sampleRate: Int
    let channels: Int
    private let down: Resampler?
    private let up: Resampler?
    private let frames: CallerFrameAssembler
    /// The bytes of an incomplete sample frame (at most 3), carried to the next piece.
    private let carry: UnsafeMutableRawBufferPointer
    private var carried = 0
    private let mono: UnsafeMutableBufferPointer<Int16>
    private let monoAtPhoneRate: UnsafeMutableBufferPointer<Int16>
    private let upOutput: UnsafeMutableBufferPointer<Int16>
    /// Samples converted at once.
    private static let piece = 1024

    init(sampleRate: Int, channels: Int, sessionFrameSamples: Int, quality: Int) throws {
        guard channels == 1 || channels == 2 else { throw AudioBridgeError.unsupportedCodec }
        let phoneRate = SessionConfiguration.phoneSampleRate
        self.sampleRate = sampleRate
        self.channels = channels
        down = sampleRate == phoneRate ? nil : try Resampler(inputRate: sampleRate, outputRate: phoneRate, quality: quality)
        up = sampleRate == phoneRate ? nil : try Resampler(inputRate: phoneRate, outputRate: sampleRate, quality: quality)
        frames = CallerFrameAssembler(frameBytes: sessionFrameSamples * 2)
        carry = .allocate(byteCount: 4, alignment: 2)
        mono = .allocate(capacity: Self.piece)
        monoAtPhoneRate = .allocate(capacity: down?.maximumOutputCount(forInputCount: Self.piece) ?? Self.piece)
        upOutput = .allocate(capacity: up?.maximumOutputCount(forInputCount: sessionFrameSamples) ?? sessionFrameSamples)
    }

    deinit {
        carry.deallocate()
        mono.deallocate()
        monoAtPhoneRate.deallocate()
        upOutput.deallocate()
    }

    /// Caller audio in; each whole 8 kHz session frame (PCM16 bytes) fed to `call`.
    func append(_ bytes: UnsafeRawBufferPointer, into call: CallPipeline) {
        let frameBytes = 2 * channels
        var offset = 0
        if carried > 0 {
            let take = min(frameBytes - carried, bytes.count)
            for i in 0..<take { carry[carried + i] = bytes[i] }
            carried += take
            offset = take
            guard carried == frameBytes else { return }
            carried = 0
            mono[0] = Int16(bitPattern: UInt16(carry[0]) | UInt16(carry[1]) << 8)
            convert(count: 1, into: call)
        }
        while bytes.count - offset >= frameBytes {
            let count = min(Self.piece, (bytes.count - offset) / frameBytes)
            for i in 0..<count {
                let at = offset + i * frameBytes
                mono[i] = Int16(bitPattern: UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8)
            }
            offset += count * frameBytes
            convert(count: count, into: call)
        }
        for i in offset..<bytes.count { carry[carried] = bytes[i]; carried += 1 }
    }

    private func convert(count: Int, into call: CallPipeline) {
        if let down {
            // The output holds a whole piece's worth, so the resampler takes all of the input.
            let (_, produced) = down.process(UnsafeBufferPointer(rebasing: mono[..<count]), into: monoAtPhoneRate)
            frames.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: monoAtPhoneRate[..<produced])), into: call)
        } else {
            frames.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: mono[..<count])), into: call)
        }
    }

    /// One 8 kHz session frame (PCM16 bytes) as PCM16 little-endian mono at the call's rate,
    /// into `output` (at least `maximumDownlinkBytes`); returns the bytes written (±1 sample
    /// around 20 ms while the resampler settles).
    func downlink(_ frame: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        guard let up else {
            let bytes = min(frame.count, output.count)
            output.baseAddress!.copyMemory(from: frame.baseAddress!, byteCount: bytes)
            return bytes
        }
        let (_, produced) = up.process(frame.bindMemory(to: Int16.self), into: upOutput)
        let bytes = min(produced * 2, output.count)
        output.baseAddress!.copyMemory(from: upOutput.baseAddress!, byteCount: bytes)
        return bytes
    }

    /// The most bytes `downlink` writes for one session frame.
    var maximumDownlinkBytes: Int { upOutput.count * 2 }
}
