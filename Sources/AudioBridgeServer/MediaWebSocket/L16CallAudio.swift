// SPDX-License-Identifier: MIT
// Call audio as FreeSWITCH's forks carry it — L16 little-endian at 8, 16, 24 … kHz, mono or
// stereo interleaved, in messages of any length (an odd byte or half a stereo sample carries
// over to the next message) — to and from the session's 8 kHz mono frames. Of a stereo stream
// the first channel (the caller) is taken. All buffers are allocated with the call.
import AudioBridgeCore
import AudioBridgeSession

final class L16CallAudio {
    let sampleRate: Int
    let channels: Int
    private let down: Resampler?
    private let up: Resampler?
    private let frames: CallerFrameAssembler
    /// Bytes of an incomplete sample frame, carried to the next message.
    private var carry: [UInt8] = []
    private let mono: UnsafeMutableBufferPointer<Int16>
    private let monoAtPhoneRate: UnsafeMutableBufferPointer<Int16>
    private let upOutput: UnsafeMutableBufferPointer<Int16>
    /// Samples per piece converted at once.
    private static let piece = 1024

    init(sampleRate: Int, channels: Int, sessionFrameSamples: Int, quality: Int) throws {
        guard channels == 1 || channels == 2 else { throw AudioBridgeError.unsupportedCodec }
        let phoneRate = SessionConfiguration.phoneSampleRate
        self.sampleRate = sampleRate
        self.channels = channels
        down = sampleRate == phoneRate ? nil : try Resampler(inputRate: sampleRate, outputRate: phoneRate, quality: quality)
        up = sampleRate == phoneRate ? nil : try Resampler(inputRate: phoneRate, outputRate: sampleRate, quality: quality)
        frames = CallerFrameAssembler(frameBytes: sessionFrameSamples * 2)
        mono = .allocate(capacity: Self.piece)
        monoAtPhoneRate = .allocate(capacity: down?.maximumOutputCount(forInputCount: Self.piece) ?? Self.piece)
        upOutput = .allocate(capacity: up?.maximumOutputCount(forInputCount: sessionFrameSamples) ?? sessionFrameSamples)
    }

    deinit {
        mono.deallocate()
        monoAtPhoneRate.deallocate()
        upOutput.deallocate()
    }

    /// Caller audio in; each whole 8 kHz session frame out through `deliver` (PCM16 bytes).
    func append(_ bytes: [UInt8], _ deliver: (UnsafeRawBufferPointer) -> Void) {
        let frameBytes = 2 * channels
        var input = bytes
        if !carry.isEmpty {
            input = carry + bytes
            carry.removeAll(keepingCapacity: true)
        }
        let whole = input.count / frameBytes * frameBytes
        if whole < input.count { carry.append(contentsOf: input[whole...]) }
        var offset = 0
        while offset < whole {
            let count = min(Self.piece, (whole - offset) / frameBytes)
            for i in 0..<count {
                let at = offset + i * frameBytes
                mono[i] = Int16(bitPattern: UInt16(input[at]) | UInt16(input[at + 1]) << 8)
            }
            offset += count * frameBytes
            if let down {
                let (_, produced) = down.process(UnsafeBufferPointer(rebasing: mono[..<count]), into: monoAtPhoneRate)
                frames.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: monoAtPhoneRate[..<produced])), deliver)
            } else {
                frames.append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: mono[..<count])), deliver)
            }
        }
    }

    /// One 8 kHz session frame as L16 little-endian mono at the call's rate, appended to `out`.
    func appendDownlink(_ frame: UnsafeBufferPointer<Int16>, to out: inout [UInt8]) {
        let samples: UnsafeBufferPointer<Int16>
        if let up {
            let (_, produced) = up.process(frame, into: upOutput)
            samples = UnsafeBufferPointer(rebasing: upOutput[..<produced])
        } else {
            samples = frame
        }
        for sample in samples {
            let bits = UInt16(bitPattern: sample)
            out.append(UInt8(bits & 0xFF))
            out.append(UInt8(bits >> 8))
        }
    }
}
