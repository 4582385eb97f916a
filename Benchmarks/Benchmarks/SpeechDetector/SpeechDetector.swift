// SPDX-License-Identifier: MIT
// Cost of the barge-in speech detector per 20 ms hop of 8 kHz caller audio, with the echo
// handling it ships with (the agent talking: the playout reference is analysed too) and
// without (nothing playing). The reference in the same run is the plain energy detector's
// work: the mean-square energy of the same 160 samples. Figures are per hop (1,000 hops per
// iteration, over 10 s of a voiced caller in noise, looped).
import AudioBridgeCore
import Benchmark
import Foundation

let hops = 500
let caller: [Int16] = (0..<(hops * 160)).map { n in
    let t = Double(n) / 8000
    let voice = (1...5).reduce(0.0) { $0 + sin(2 * Double.pi * 150 * Double($1) * t) / Double($1) } * (0.55 - 0.45 * cos(2 * Double.pi * 4 * t))
    let noise = Double(Int16(truncatingIfNeeded: n &* 1103515245 &+ 12345)) / 32768
    return Int16(3000 * voice + 300 * noise)
}
let played: [Int16] = (0..<(hops * 160)).map { Int16(4000 * sin(2 * Double.pi * 220 * Double($0) / 8000)) }

let benchmarks: @Sendable () -> Void = {
    let smoke = ProcessInfo.processInfo.environment["AB_BENCH_SMOKE"] != nil
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: smoke ? 1 : 3,
        scalingFactor: .kilo,
        maxDuration: smoke ? .milliseconds(100) : .seconds(3),
        maxIterations: smoke ? 3 : 1_000
    )

    Benchmark("Frame energy, 20 ms (reference)") { benchmark in
        caller.withUnsafeBufferPointer { samples in
            var hop = 0
            for _ in benchmark.scaledIterations {
                var sum: Float = 0
                for sample in samples[(hop * 160)..<(hop * 160 + 160)] { let x = Float(sample); sum += x * x }
                blackHole(sum)
                hop = (hop + 1) % hops
            }
        }
    }
    Benchmark("Speech detector, 20 ms, agent talking (echo reference on)") { benchmark in
        let detector = CallerSpeechDetector()
        caller.withUnsafeBufferPointer { samples in
            played.withUnsafeBufferPointer { reference in
                var hop = 0
                for _ in benchmark.scaledIterations {
                    let range = (hop * 160)..<(hop * 160 + 160)
                    blackHole(detector.process(caller: UnsafeBufferPointer(rebasing: samples[range]), reference: UnsafeBufferPointer(rebasing: reference[range])))
                    hop = (hop + 1) % hops
                }
            }
        }
    }
    Benchmark("Speech detector, 20 ms, nothing playing") { benchmark in
        let detector = CallerSpeechDetector()
        caller.withUnsafeBufferPointer { samples in
            var hop = 0
            for _ in benchmark.scaledIterations {
                blackHole(detector.process(caller: UnsafeBufferPointer(rebasing: samples[(hop * 160)..<(hop * 160 + 160)]), reference: nil))
                hop = (hop + 1) % hops
            }
        }
    }
}
