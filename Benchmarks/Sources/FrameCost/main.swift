// SPDX-License-Identifier: MIT
// Runs N full-duplex frames through the Swift pipeline or the C reference, for counting
// instructions under callgrind (deterministic, unlike wall clock on a shared machine):
//
//   FrameCost swift|session|session-caller|session-agent|c FRAMES [QUALITY]
//
// swift: FullDuplexFramePipeline; c: the plain-C reference; the rest a whole Session
// (SessionEchoLoop):
//   session         a quiet caller (under the detector's threshold) looped back as the agent:
//                   the steady full path, the agent talking quietly, no barge-in
//   session-caller  a caller talking (a voiced vowel at about −20 dBFS, rising and falling four
//                   times a second), the agent silent
//   session-agent   the agent talking (a voiced vowel at 24 kHz, about −12 dBFS), a quiet caller
// ratio.py runs it with 0 and with N frames and divides the difference by N, so setup cost
// (tables, resampler init, the test signals) drops out.
import AudioBridgeCore
import AudioBridgeTestSupport
import CReferencePipeline
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
let modes = ["swift", "session", "session-caller", "session-agent", "c"]
guard arguments.count == 3 || arguments.count == 4, let frames = Int(arguments[2]), modes.contains(arguments[1]),
      let quality = arguments.count == 4 ? Int(arguments[3]) : Resampler.defaultQuality
else {
    print("usage: FrameCost \(modes.joined(separator: "|")) FRAMES [QUALITY]")
    exit(2)
}

let caller = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 160)
let heard = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 160)
for n in 0..<160 { caller[n] = ULaw.encode(Int16(truncatingIfNeeded: (n * 397) % 16000 - 8000)) }

/// One second of a voiced vowel: harmonics of `pitch` falling 6 dB per octave, at `peak` full
/// scale, its loudness rising and falling `syllables` times a second (0: steady).
func vowel(sampleRate: Int, pitch: Double, peak: Double, syllables: Double) -> [Int16] {
    (0..<sampleRate).map { n in
        let t = Double(n) / Double(sampleRate)
        var value = 0.0
        for harmonic in 1...Int(3_400 / pitch) { value += sin(2 * Double.pi * pitch * Double(harmonic) * t) / Double(harmonic) }
        let envelope = syllables == 0 ? 1 : 0.55 - 0.45 * cos(2 * Double.pi * syllables * t)
        return Int16(value / 1.8 * peak * envelope * 32767)
    }
}

var checksum = 0
switch arguments[1] {
case "swift":
    var pipeline = try FullDuplexFramePipeline(quality: quality)
    for _ in 0..<frames {
        pipeline.processFrame(caller: UnsafeBufferPointer(caller), heard: heard)
        checksum &+= Int(heard[7])
    }
case "session":
    // A quiet caller (under the detector's threshold): the steady full path, no barge-in.
    for n in 0..<160 { caller[n] = ULaw.encode(Int16(truncatingIfNeeded: ((n * 397) % 16000 - 8000) / 100)) }
    let loop = try SessionEchoLoop(quality: quality)
    for _ in 0..<frames {
        loop.processFrame(caller: UnsafeRawBufferPointer(caller), heard: UnsafeMutableRawBufferPointer(heard))
        checksum &+= Int(heard[7])
    }
case "session-caller", "session-agent":
    // Fifty 20 ms frames made before the loop (setup, not counted per frame), played in turn.
    let talkingCaller = arguments[1] == "session-caller"
    let callerSecond = talkingCaller
        ? vowel(sampleRate: 8_000, pitch: 140, peak: 0.1, syllables: 4).map(ULaw.encode)
        : (0..<8_000).map { n in ULaw.encode(Int16(truncatingIfNeeded: ((n * 397) % 16000 - 8000) / 100)) }
    let agentSecond = talkingCaller ? [] : vowel(sampleRate: 24_000, pitch: 190, peak: 0.25, syllables: 0)
    let loop = try SessionEchoLoop(quality: quality)
    try callerSecond.withUnsafeBytes { callerBytes in
        try agentSecond.withUnsafeBytes { agentBytes in
            for frame in 0..<frames {
                let second = frame % 50
                let agent = talkingCaller ? UnsafeRawBufferPointer(start: nil, count: 0)
                    : UnsafeRawBufferPointer(rebasing: agentBytes[(second * 960)..<((second + 1) * 960)])
                let written = loop.processFrame(caller: UnsafeRawBufferPointer(rebasing: callerBytes[(second * 160)..<((second + 1) * 160)]),
                                                agent: agent, heard: UnsafeMutableRawBufferPointer(heard))
                guard written == 160 else { throw AudioBridgeError.invalidArgument }
                checksum &+= Int(heard[7])
            }
        }
    }
default:
    let pipeline = reference_pipeline_create(Int32(quality))!
    for _ in 0..<frames {
        reference_pipeline_process_frame(pipeline, caller.baseAddress, heard.baseAddress)
        checksum &+= Int(heard[7])
    }
    reference_pipeline_destroy(pipeline)
}
print("frames \(frames) checksum \(checksum)")
