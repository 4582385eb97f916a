// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeTransports
import Foundation
import Testing

struct WavFileTests {
    @Test func encodedFilesParseBack() throws {
        let file = WavFile(sampleRate: 8000, samples: (0..<999).map { Int16(truncatingIfNeeded: $0 * 131) })
        #expect(try WavFile(parsing: file.encoded()) == file)
    }

    @Test func theBundledSampleParses() throws {
        let root = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let file = try WavFile(contentsOf: "/" + root + "/samples/caller-ulaw-8k.wav")
        #expect(file.sampleRate == 8000)
        #expect(file.samples.count == 64188)
    }

    @Test func malformedFilesAreErrorsNotCrashes() {
        let good = WavFile(sampleRate: 8000, samples: [1, 2, 3, 4]).encoded()
        #expect(throws: AudioBridgeError.invalidArgument) { try WavFile(parsing: []) }
        #expect(throws: AudioBridgeError.invalidArgument) { try WavFile(parsing: Array(good.prefix(30))) }
        var stereo = good
        stereo[22] = 2
        #expect(throws: AudioBridgeError.unsupportedCodec) { try WavFile(parsing: stereo) }
        var float = good
        float[20] = 3
        #expect(throws: AudioBridgeError.unsupportedCodec) { try WavFile(parsing: float) }
        var hugeChunk = good
        hugeChunk[40] = 0xFF; hugeChunk[41] = 0xFF; hugeChunk[42] = 0xFF; hugeChunk[43] = 0x7F
        #expect(throws: AudioBridgeError.invalidArgument) { try WavFile(parsing: hugeChunk) }
    }

    /// Every truncation and 20,000 random corruptions of a valid file parse or throw; none traps,
    /// and whatever parses holds no more samples than the bytes could carry.
    @Test func corruptedFilesNeverTrap() {
        let good = WavFile(sampleRate: 16000, samples: (0..<64).map { Int16($0) }).encoded()
        // A truncated file is refused until its data chunk is whole.
        let parsedPrefixes = (0...good.count).filter { (try? WavFile(parsing: Array(good.prefix($0)))) != nil }
        #expect(parsedPrefixes == [good.count], "only the whole file parses: \(parsedPrefixes)")
        var seed: UInt64 = 0x9E3779B97F4A7C15
        var parsed = 0, refused = 0
        for _ in 0..<20_000 {
            var bytes = good
            for _ in 0..<4 {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                bytes[Int(seed >> 33) % bytes.count] = UInt8(truncatingIfNeeded: seed >> 13)
            }
            if let file = try? WavFile(parsing: bytes) {
                parsed += 1
                #expect(file.samples.count <= bytes.count && file.sampleRate > 0)
            } else {
                refused += 1
            }
        }
        #expect(parsed > 0 && refused > 0, "the corruptions reached both outcomes: \(parsed) parsed, \(refused) refused")
    }
}
