// SPDX-License-Identifier: MIT
// AudioSocket calls whose audio is not 8 kHz (kinds 0x11–0x18: slin12 … slin192, Asterisk
// 20.17/21.12/22.7/23.1 and later) meet the session's 8 kHz phone side here: caller audio is
// resampled down as it arrives and every 20 ms session frame is resampled up before it is sent,
// in the same kind the caller uses. Everything is allocated once, when the call's rate is known.
//
// AudioSocket audio is little-endian PCM16, which is also the byte order of every host Swift on
// Linux runs on, so payload bytes are read as Int16 in place.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession

final class CallRateAdapter {
    let sampleRate: Int
    let kind: UInt8
    private let down: Resampler  // the call's rate → 8 kHz
    private let up: Resampler  // 8 kHz → the call's rate
    private let downInput: UnsafeMutableBufferPointer<Int16>
    private let downOutput: UnsafeMutableBufferPointer<Int16>
    private let upOutput: UnsafeMutableBufferPointer<Int16>

    init(sampleRate: Int, quality: Int, maximumPayload: Int, frameSamples: Int) throws {
        guard let kind = AudioSocketEncoder.audioKind(sampleRate: sampleRate) else { throw AudioBridgeError.unsupportedSampleRate }
        let phoneRate = SessionConfiguration.phoneSampleRate
        self.sampleRate = sampleRate
        self.kind = kind
        down = try Resampler(inputRate: sampleRate, outputRate: phoneRate, quality: quality)
        up = try Resampler(inputRate: phoneRate, outputRate: sampleRate, quality: quality)
        // A whole maximum-size payload converts in one step.
        downInput = .allocate(capacity: max(1, maximumPayload / 2))
        downOutput = .allocate(capacity: down.maximumOutputCount(forInputCount: downInput.count))
        upOutput = .allocate(capacity: up.maximumOutputCount(forInputCount: frameSamples))
    }

    deinit {
        downInput.deallocate()
        downOutput.deallocate()
        upOutput.deallocate()
    }

    /// Converts caller audio at the call's rate to 8 kHz and hands it on, as PCM16 bytes. The
    /// payload is copied into an aligned buffer first: it sits at any byte offset in the socket
    /// buffer, and Int16 reads must be aligned.
    func toPhoneRate(_ payload: UnsafeRawBufferPointer, _ deliver: (UnsafeRawBufferPointer) -> Void) {
        var offset = 0
        while offset + 2 <= payload.count {
            let bytes = min(downInput.count * 2, (payload.count - offset) / 2 * 2)
            UnsafeMutableRawPointer(downInput.baseAddress!).copyMemory(from: payload.baseAddress! + offset, byteCount: bytes)
            // The output is sized for a whole input piece, so the resampler takes all of it.
            let (_, produced) = down.process(UnsafeBufferPointer(rebasing: downInput[..<(bytes / 2)]), into: downOutput)
            if produced > 0 { deliver(UnsafeRawBufferPointer(start: downOutput.baseAddress, count: produced * 2)) }
            offset += bytes
        }
    }

    /// Converts one 8 kHz session frame to the call's rate, into `output` (sized with
    /// `maximumFrameBytes`); returns the bytes written (even; ±1 sample around 20 ms).
    func fromPhoneRate(_ frame: UnsafeBufferPointer<Int16>, into output: UnsafeMutableRawBufferPointer) -> Int {
        let (_, produced) = up.process(frame, into: upOutput)
        let bytes = min(produced * 2, output.count)
        output.baseAddress!.copyMemory(from: upOutput.baseAddress!, byteCount: bytes)
        return bytes
    }

    /// The most bytes `fromPhoneRate` writes for one session frame.
    var maximumFrameBytes: Int { upOutput.count * 2 }
}
