// SPDX-License-Identifier: MIT
import AudioBridgeCore
import Foundation
import Testing

struct PowerSpectrumTests {
    /// The fast spectrum equals the textbook DFT of the windowed block, bin by bin, for random
    /// blocks and for pure tones.
    @Test func matchesTheDirectDFT() {
        let spectrum = PowerSpectrum()
        var state: UInt64 = 0x5EED
        func random() -> Int16 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int16(truncatingIfNeeded: state >> 48)
        }
        let window = (0..<256).map { 0.5 - 0.5 * cos(2 * Double.pi * Double($0) / 256) }
        var blocks: [[Int16]] = (0..<20).map { _ in (0..<256).map { _ in random() } }
        blocks.append((0..<256).map { Int16((10000 * sin(2 * Double.pi * 1000 * Double($0) / 8000)).rounded()) })
        blocks.append((0..<256).map { Int16((8000 * cos(2 * Double.pi * 697 * Double($0) / 8000) + 8000 * cos(2 * Double.pi * 1477 * Double($0) / 8000)).rounded()) })
        for block in blocks {
            block.withUnsafeBufferPointer { spectrum.compute($0.baseAddress!) }
            var worst = 0.0
            var total = 0.0
            for k in 0...128 {
                var re = 0.0, im = 0.0
                for n in 0..<256 {
                    let x = Double(block[n]) * window[n]
                    re += x * cos(2 * Double.pi * Double(k * n) / 256)
                    im -= x * sin(2 * Double.pi * Double(k * n) / 256)
                }
                let expected = re * re + im * im
                total += expected
                worst = max(worst, abs(Double(spectrum.power[k]) - expected))
            }
            #expect(worst <= 1e-4 * total, "largest error \(worst) of total power \(total)")
        }
    }

    /// Digital silence skips the transform and gives what the transform gives: no power anywhere,
    /// also right after a loud block (nothing of it is left over). One sample of sound is not
    /// silence: it has power wherever the window lets it through (the Hann window is 0 at the
    /// block's first sample only).
    @Test func silenceHasNoPowerAndOneSampleIsNotSilence() {
        let spectrum = PowerSpectrum()
        let loud = (0..<256).map { Int16((10000 * sin(Double($0))).rounded()) }
        loud.withUnsafeBufferPointer { spectrum.compute($0.baseAddress!) }
        let zeros = [Int16](repeating: 0, count: 256)
        zeros.withUnsafeBufferPointer { spectrum.compute($0.baseAddress!) }
        #expect((0...128).allSatisfy { spectrum.power[$0] == 0 })
        for index in [0, 128, 255] {
            var block = zeros
            block[index] = 1000
            block.withUnsafeBufferPointer { spectrum.compute($0.baseAddress!) }
            #expect((0...128).contains { spectrum.power[$0] > 0 } == (index != 0), "a sample at \(index)")
        }
    }
}
