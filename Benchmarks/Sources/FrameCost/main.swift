// SPDX-License-Identifier: MIT
// Runs N full-duplex frames through the Swift pipeline or the C reference, for counting
// instructions under callgrind (deterministic, unlike wall clock on a shared machine):
//
//   FrameCost swift|session|c FRAMES [QUALITY]
//
// swift: FullDuplexFramePipeline; session: a whole Session looped back (SessionEchoLoop); c: the
// plain-C reference.
// ratio.py runs it with 0 and with N frames and divides the difference by N, so setup cost
// (tables, resampler init) drops out.
import AudioBridgeCore
import AudioBridgeTestSupport
import CReferencePipeline
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count == 3 || arguments.count == 4, let frames = Int(arguments[2]), ["swift", "session", "c"].contains(arguments[1]),
      let quality = arguments.count == 4 ? Int(arguments[3]) : Resampler.defaultQuality
else {
    print("usage: FrameCost swift|session|c FRAMES [QUALITY]")
    exit(2)
}

let caller = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 160)
let heard = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 160)
for n in 0..<160 { caller[n] = ULaw.encode(Int16(truncatingIfNeeded: (n * 397) % 16000 - 8000)) }

var checksum = 0
if arguments[1] == "swift" {
    var pipeline = try FullDuplexFramePipeline(quality: quality)
    for _ in 0..<frames {
        pipeline.processFrame(caller: UnsafeBufferPointer(caller), heard: heard)
        checksum &+= Int(heard[7])
    }
} else if arguments[1] == "session" {
    // A quiet caller (under the detector's threshold): the steady full path, no barge-in.
    for n in 0..<160 { caller[n] = ULaw.encode(Int16(truncatingIfNeeded: ((n * 397) % 16000 - 8000) / 100)) }
    let loop = try SessionEchoLoop(quality: quality)
    for _ in 0..<frames {
        loop.processFrame(caller: UnsafeRawBufferPointer(caller), heard: UnsafeMutableRawBufferPointer(heard))
        checksum &+= Int(heard[7])
    }
} else {
    let pipeline = reference_pipeline_create(Int32(quality))!
    for _ in 0..<frames {
        reference_pipeline_process_frame(pipeline, caller.baseAddress, heard.baseAddress)
        checksum &+= Int(heard[7])
    }
    reference_pipeline_destroy(pipeline)
}
print("frames \(frames) checksum \(checksum)")
