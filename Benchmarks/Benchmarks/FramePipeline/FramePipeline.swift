// SPDX-License-Identifier: MIT
// Cost per 20 ms frame of each stage of the frame path and of the whole full-duplex frame,
// against the plain-C reference (CReferencePipeline) in the same run. Each benchmark runs
// 1,000 frames per iteration (scalingFactor .kilo), so the reported figures are per frame.
// Setup stays outside the measured closure: the malloc metric counts everything inside it.
import AudioBridgeCore
import AudioBridgeTestSupport
import Benchmark
import CReferencePipeline
import Foundation

let quality = Resampler.defaultQuality

/// 50 distinct 20 ms μ-law frames of a changing signal.
let callerFrames: [[UInt8]] = (0..<50).map { f in
    (0..<160).map { n in ULaw.encode(Int16(9000 * sin(Double(f * 160 + n) * 0.07))) }
}
/// The same, 40 dB quieter: under the speech detector's threshold, so the session runs its
/// steady full path (no barge-in cutting the loop-back item).
let quietCallerFrames: [[UInt8]] = (0..<50).map { f in
    (0..<160).map { n in ULaw.encode(Int16(90 * sin(Double(f * 160 + n) * 0.07))) }
}
let linearFrame: [Int16] = (0..<160).map { Int16(9000 * sin(Double($0) * 0.07)) }
let wideFrame: [Int16] = (0..<480).map { Int16(9000 * sin(Double($0) * 0.023)) }

/// Owns a non-copyable pipeline for the benchmark closures.
final class PipelineBox: @unchecked Sendable {
    var pipeline: FullDuplexFramePipeline
    let heard = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 160)
    init() throws { pipeline = try FullDuplexFramePipeline(quality: quality) }
}

final class RingBox: @unchecked Sendable {
    var producer: SPSCRing<Int16>.Producer
    var consumer: SPSCRing<Int16>.Consumer
    init() throws {
        let ring = try SPSCRing<Int16>.make(capacity: 4096)
        producer = ring.producer
        consumer = ring.consumer
    }
}

let benchmarks: @Sendable () -> Void = {
    // AB_BENCH_SMOKE=1 (make test) runs each benchmark a few times only, so they cannot rot.
    let smoke = ProcessInfo.processInfo.environment["AB_BENCH_SMOKE"] != nil
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: smoke ? 1 : 3,
        scalingFactor: .kilo,
        maxDuration: smoke ? .milliseconds(100) : .seconds(3),
        maxIterations: smoke ? 3 : 1_000
    )

    // The whole frame, Swift and C. The headline ratio is Swift / C of these two.
    Benchmark("Full-duplex frame (Swift)") { (benchmark: Benchmark, box: PipelineBox) in
        for i in benchmark.scaledIterations {
            callerFrames[i % 50].withUnsafeBufferPointer { blackHole(box.pipeline.processFrame(caller: $0, heard: box.heard)) }
        }
    } setup: {
        let box = try PipelineBox()
        for i in 0..<100 { callerFrames[i % 50].withUnsafeBufferPointer { _ = box.pipeline.processFrame(caller: $0, heard: box.heard) } }
        return box
    }

    Benchmark("Full-duplex frame (C reference)") { (benchmark: Benchmark, pipeline: OpaquePointer) in
        var heard = [UInt8](repeating: 0, count: 160)
        heard.withUnsafeMutableBufferPointer { out in
            for i in benchmark.scaledIterations {
                callerFrames[i % 50].withUnsafeBufferPointer { blackHole(reference_pipeline_process_frame(pipeline, $0.baseAddress, out.baseAddress)) }
            }
        }
    } setup: {
        let pipeline = reference_pipeline_create(Int32(quality))!
        var heard = [UInt8](repeating: 0, count: 160)
        for i in 0..<100 { callerFrames[i % 50].withUnsafeBufferPointer { _ = reference_pipeline_process_frame(pipeline, $0.baseAddress, &heard) } }
        return pipeline
    }

    // The session's whole frame (detector, markers, events included), against the same C reference.
    Benchmark("Session full-duplex frame (Swift)") { (benchmark: Benchmark, loop: SessionEchoLoop) in
        var heard = [UInt8](repeating: 0, count: 160)
        heard.withUnsafeMutableBytes { out in
            for i in benchmark.scaledIterations {
                quietCallerFrames[i % 50].withUnsafeBytes { blackHole(loop.processFrame(caller: $0, heard: out)) }
            }
        }
    } setup: {
        let loop = try SessionEchoLoop(quality: quality)
        var heard = [UInt8](repeating: 0, count: 160)
        for i in 0..<100 { quietCallerFrames[i % 50].withUnsafeBytes { c in heard.withUnsafeMutableBytes { _ = loop.processFrame(caller: c, heard: $0) } } }
        return loop
    }

    // Many calls, one frame each in turn, as a server's loop serves them: a thousand sessions'
    // state does not stay in the caches between a session's turns. The same work with the next
    // session's memory prefetched first (what the server's pacer does) measures what that saves.
    for prefetching in [false, true] {
        let name = "Session frame, 1,000 sessions in turn" + (prefetching ? ", next one prefetched" : "") + " (Swift)"
        Benchmark(name) { (benchmark: Benchmark, loops: [SessionEchoLoop]) in
            var heard = [UInt8](repeating: 0, count: 160)
            heard.withUnsafeMutableBytes { out in
                for i in benchmark.scaledIterations {
                    if prefetching { loops[(i + 1) % loops.count].prefetch() }
                    quietCallerFrames[i / loops.count % 50].withUnsafeBytes { blackHole(loops[i % loops.count].processFrame(caller: $0, heard: out)) }
                }
            }
        } setup: {
            // 8 kHz agents, as the server's echo agent: no resampling, the session's own work.
            let loops = try (0..<1000).map { _ in try SessionEchoLoop(quality: quality, agentSampleRate: 8000) }
            var heard = [UInt8](repeating: 0, count: 160)
            for i in 0..<3000 {
                quietCallerFrames[i / 1000 % 50].withUnsafeBytes { c in heard.withUnsafeMutableBytes { _ = loops[i % 1000].processFrame(caller: c, heard: $0) } }
            }
            return loops
        }
    }

    // Stages.
    Benchmark("G.711 μ-law decode, 160 samples (Swift)") { benchmark in
        var out = [Int16](repeating: 0, count: 160)
        out.withUnsafeMutableBufferPointer { out in
            for i in benchmark.scaledIterations { callerFrames[i % 50].withUnsafeBufferPointer { blackHole(ULaw.decode($0, into: out)) } }
        }
    }

    Benchmark("G.711 μ-law decode, 160 samples (C reference)") { benchmark in
        var out = [Int16](repeating: 0, count: 160)
        out.withUnsafeMutableBufferPointer { out in
            for i in benchmark.scaledIterations { callerFrames[i % 50].withUnsafeBufferPointer { reference_ulaw_decode($0.baseAddress, 160, out.baseAddress) } }
            blackHole(out[0])
        }
    }

    Benchmark("G.711 μ-law encode, 160 samples (Swift)") { benchmark in
        var out = [UInt8](repeating: 0, count: 160)
        linearFrame.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { out in
                for _ in benchmark.scaledIterations { blackHole(ULaw.encode(input, into: out)) }
            }
        }
    }

    Benchmark("G.711 μ-law encode, 160 samples (C reference)") { benchmark in
        var out = [UInt8](repeating: 0, count: 160)
        linearFrame.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { out in
                for _ in benchmark.scaledIterations { reference_ulaw_encode(input.baseAddress, 160, out.baseAddress) }
                blackHole(out[0])
            }
        }
    }

    Benchmark("Resample 8k→24k, 20 ms") { (benchmark: Benchmark, resampler: Resampler) in
        var out = [Int16](repeating: 0, count: 482)
        linearFrame.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { out in
                for _ in benchmark.scaledIterations { blackHole(resampler.process(input, into: out)) }
            }
        }
    } setup: {
        try Resampler(inputRate: 8000, outputRate: 24000, quality: quality)
    }

    Benchmark("Resample 24k→8k, 20 ms") { (benchmark: Benchmark, resampler: Resampler) in
        var out = [Int16](repeating: 0, count: 162)
        wideFrame.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { out in
                for _ in benchmark.scaledIterations { blackHole(resampler.process(input, into: out)) }
            }
        }
    } setup: {
        try Resampler(inputRate: 24000, outputRate: 8000, quality: quality)
    }

    Benchmark("SPSC ring write + read, 480 samples") { (benchmark: Benchmark, box: RingBox) in
        var out = [Int16](repeating: 0, count: 480)
        wideFrame.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { out in
                for _ in benchmark.scaledIterations {
                    blackHole(box.producer.write(input))
                    blackHole(box.consumer.read(into: out))
                }
            }
        }
    } setup: {
        try RingBox()
    }

    // The resampler's cost per quality, for choosing the default (README: quality table).
    for q in [3, 4, 5, 7] {
        Benchmark("Resample 8k→24k→8k round trip, 20 ms, quality \(q)") { (benchmark: Benchmark, pair: (Resampler, Resampler)) in
            var wide = [Int16](repeating: 0, count: 482)
            var back = [Int16](repeating: 0, count: 162)
            linearFrame.withUnsafeBufferPointer { input in
                wide.withUnsafeMutableBufferPointer { wide in
                    back.withUnsafeMutableBufferPointer { back in
                        for _ in benchmark.scaledIterations {
                            let (_, produced) = pair.0.process(input, into: wide)
                            blackHole(pair.1.process(UnsafeBufferPointer(rebasing: wide[..<produced]), into: back))
                        }
                    }
                }
            }
        } setup: {
            (try Resampler(inputRate: 8000, outputRate: 24000, quality: q), try Resampler(inputRate: 24000, outputRate: 8000, quality: q))
        }
    }
}
