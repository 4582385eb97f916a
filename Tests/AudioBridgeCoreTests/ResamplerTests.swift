// SPDX-License-Identifier: MIT
import AudioBridgeCore
import Foundation
import Testing

/// Signals and measurements for the resampler tests.
enum Signal {
    /// A 300–3400 Hz multi-tone (telephone band) at `rate`, peak below half scale.
    static func telephoneMultiTone(rate: Int, seconds: Double) -> [Int16] {
        // Frequencies share no common period, so only the true delay aligns the signal.
        let frequencies: [Double] = [300, 731.3, 1123.7, 1701.9, 2297.1, 2903.3, 3400]
        let count = Int(Double(rate) * seconds)
        return (0..<count).map { n in
            let t = Double(n) / Double(rate)
            let value = frequencies.enumerated().reduce(0.0) { sum, tone in
                sum + sin(2 * .pi * tone.element * t + Double(tone.offset))
            }
            return Int16(value / Double(frequencies.count) * 14000)
        }
    }

    /// Deterministic white-ish noise plus a tone, to exercise every filter phase.
    static func noisyTone(count: Int, seed: UInt32 = 1) -> [Int16] {
        var state = seed
        return (0..<count).map { n in
            state = state &* 1_664_525 &+ 1_013_904_223
            let noise = Int(Int16(truncatingIfNeeded: state >> 16)) / 4
            return Int16(clamping: noise + Int(8000 * sin(Double(n) * 0.05)))
        }
    }

    /// Resamples `input` in chunks of `chunk` samples (all at once when nil), then flushes the
    /// filter with `flush` zeros so the tail comes out too.
    static func resample(_ input: [Int16], with resampler: Resampler, chunk: Int? = nil, flush: Int = 0) -> [Int16] {
        let source = input + [Int16](repeating: 0, count: flush)
        var output: [Int16] = []
        var start = 0
        while start < source.count {
            let end = min(source.count, start + (chunk ?? source.count))
            var out = [Int16](repeating: 0, count: resampler.maximumOutputCount(forInputCount: end - start))
            let (consumed, produced) = source.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { resampler.process(UnsafeBufferPointer(rebasing: s[start..<end]), into: $0) }
            }
            precondition(consumed == end - start, "an output sized by maximumOutputCount takes all input")
            output += out[0..<produced]
            start = end
        }
        return output
    }

    /// SNR in dB of `output` against `reference` delayed by `delay` samples, over the middle of
    /// the signal (edges excluded).
    static func snr(reference: [Int16], output: [Int16], delay: Int, margin: Int = 200) -> Double {
        var signal = 0.0, noise = 0.0
        for n in margin..<(reference.count - margin) where n + delay < output.count {
            let x = Double(reference[n]), e = Double(output[n + delay]) - x
            signal += x * x
            noise += e * e
        }
        return 10 * log10(signal / max(noise, 1e-9))
    }

    /// The delay in 0..<maxDelay that gives the best SNR, and that SNR.
    static func bestAlignment(reference: [Int16], output: [Int16], maxDelay: Int = 400) -> (delay: Int, snr: Double) {
        (0..<maxDelay).map { ($0, snr(reference: reference, output: output, delay: $0)) }.max { $0.1 < $1.1 }!
    }
}

struct ResamplerTests {
    static let ratePairs: [(Int, Int)] = Resampler.supportedRates.flatMap { a in Resampler.supportedRates.map { (a, $0) } }

    /// (a) Chunked streaming is sample-for-sample the same as one piece, for every rate pair.
    @Test func twentyMillisecondChunksGiveExactlyTheOnePieceOutput() throws {
        for (inputRate, outputRate) in Self.ratePairs {
            for quality in [0, Resampler.defaultQuality, 10] {
                let input = Signal.noisyTone(count: inputRate / 2)
                let whole = Signal.resample(input, with: try Resampler(inputRate: inputRate, outputRate: outputRate, quality: quality))
                let chunked = Signal.resample(input, with: try Resampler(inputRate: inputRate, outputRate: outputRate, quality: quality), chunk: inputRate / 50)
                #expect(whole == chunked, "\(inputRate)→\(outputRate) q\(quality)")
                #expect(abs(whole.count - input.count * outputRate / inputRate) <= 1)
            }
        }
    }

    /// Odd chunk sizes (1, 7, 161 samples) do not change the output either.
    @Test func oddChunkSizesGiveTheOnePieceOutput() throws {
        let input = Signal.noisyTone(count: 4000, seed: 9)
        let whole = Signal.resample(input, with: try Resampler(inputRate: 8000, outputRate: 24000))
        for chunk in [1, 7, 161] {
            #expect(Signal.resample(input, with: try Resampler(inputRate: 8000, outputRate: 24000), chunk: chunk) == whole)
        }
    }

    /// (b) 300–3400 Hz through 8k→24k→8k keeps ≥ 40 dB SNR at the default quality once the
    /// round-trip delay is compensated; the delay found equals the two filters' latencies.
    @Test func telephoneBandRoundTripKeepsFortyDecibelsAtDefaultQuality() throws {
        let measurement = try Self.roundTrip(quality: Resampler.defaultQuality)
        #expect(measurement.snr >= 40)
        #expect(measurement.delay == measurement.reportedDelay)
    }

    /// The figures behind the default: SNR, delay and latency for qualities 3, 4, 5 and 7. Higher
    /// quality never lowers SNR. (Printed for the README and the benchmark notes.)
    @Test func qualityThreeFiveSevenFigures() throws {
        var previous = -Double.infinity
        for quality in [3, 4, 5, 7] {
            let m = try Self.roundTrip(quality: quality)
            print("resampler q\(quality): 8k→24k→8k SNR \(String(format: "%.1f", m.snr)) dB, round-trip delay \(m.delay) samples @8k (\(String(format: "%.2f", Double(m.delay) / 8)) ms); 8k→24k latency \(m.upLatency) in / 24k→8k latency \(m.downLatency) in")
            #expect(m.snr >= previous - 0.5)
            previous = m.snr
        }
    }

    static func roundTrip(quality: Int) throws -> (snr: Double, delay: Int, reportedDelay: Int, upLatency: Int, downLatency: Int) {
        let input = Signal.telephoneMultiTone(rate: 8000, seconds: 2)
        let up = try Resampler(inputRate: 8000, outputRate: 24000, quality: quality)
        let down = try Resampler(inputRate: 24000, outputRate: 8000, quality: quality)
        let wide = Signal.resample(input, with: up, chunk: 160, flush: 400)
        let back = Signal.resample(wide, with: down, chunk: 480)
        let (delay, snr) = Signal.bestAlignment(reference: input, output: back)
        // Latencies in 8 kHz samples: the upsampler's input latency plus the downsampler's output latency.
        return (snr, delay, up.inputLatency + down.outputLatency, up.inputLatency, down.inputLatency)
    }

    /// (c) Silence in, silence out, exactly, in every direction.
    @Test func silenceInGivesSilenceOut() throws {
        for (inputRate, outputRate) in Self.ratePairs {
            let out = Signal.resample([Int16](repeating: 0, count: inputRate), with: try Resampler(inputRate: inputRate, outputRate: outputRate), chunk: inputRate / 50)
            #expect(!out.isEmpty)
            #expect(out.allSatisfy { $0 == 0 }, "\(inputRate)→\(outputRate)")
        }
    }

    /// (d) Bad rates and qualities fail at creation with a clear error.
    @Test func invalidRatesAndQualitiesAreRejectedAtCreation() {
        for rate in [0, -8000, 11025, 22050, 384000, Int.max] {
            #expect(throws: AudioBridgeError.unsupportedSampleRate) { _ = try Resampler(inputRate: rate, outputRate: 8000) }
            #expect(throws: AudioBridgeError.unsupportedSampleRate) { _ = try Resampler(inputRate: 8000, outputRate: rate) }
        }
        for quality in [-1, 11, Int.min, Int.max] {
            #expect(throws: AudioBridgeError.unsupportedQuality) { _ = try Resampler(inputRate: 8000, outputRate: 24000, quality: quality) }
        }
    }

    @Test func resetMakesTheResamplerBehaveLikeANewOne() throws {
        let input = Signal.noisyTone(count: 2400, seed: 3)
        let used = try Resampler(inputRate: 24000, outputRate: 8000)
        _ = Signal.resample(Signal.noisyTone(count: 1000, seed: 4), with: used)
        used.reset()
        #expect(Signal.resample(input, with: used) == Signal.resample(input, with: try Resampler(inputRate: 24000, outputRate: 8000)))
    }

    @Test func shortOutputBufferConsumesOnlyWhatFitsAndEmptyBuffersDoNothing() throws {
        let resampler = try Resampler(inputRate: 8000, outputRate: 24000)
        let input = Signal.noisyTone(count: 160)
        var out = [Int16](repeating: 0, count: 30)
        let (consumed, produced) = input.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { resampler.process(s, into: $0) } }
        #expect(produced <= 30 && produced > 0)
        #expect(consumed < 160 && consumed > 0)
        let empty = out.withUnsafeMutableBufferPointer { resampler.process(UnsafeBufferPointer(start: nil, count: 0), into: $0) }
        #expect(empty == (0, 0))
    }
}
