// SPDX-License-Identifier: MIT
import AudioBridgeCore
@testable import AudioBridgeSession
import AudioBridgeTestSupport
import Foundation
import Testing

/// The session's detector takes 20 ms hops out of frames of any length: a hop that lies whole in
/// a frame goes to the detector in place, one that frames split is gathered first. Both ways must
/// give the detector the same samples, so the caller's turns start and stop at the same hops
/// however the audio is cut.
@Suite struct SpeechDetectorFramingTests {
    /// Pauses and talk (a 4 Hz syllable-modulated 300 Hz voice), 1.5 s each, over low noise: 13.5 s.
    private static let caller: [Int16] = {
        var random = SplitMix64(seed: 7)
        return (0..<(27 * 4000)).map { n in
            let t = Double(n) / 8000
            let talking = Int(t / 1.5) % 2 == 1
            let voice = talking ? 9000 * (0.6 + 0.4 * cos(2 * .pi * 4 * t)) * sin(2 * .pi * 300 * t) : 0
            let noise = Double(Int64(random.next() % 201) - 100)
            return Int16(voice + noise)
        }
    }()

    /// The turn changes, each with the number of samples fed when its call returned.
    private static func turns(cutting samples: [Int16], into pieces: (inout SplitMix64) -> Int) -> [(SessionSpeechDetector.Transition, Int)] {
        let detector = SessionSpeechDetector(settings: .init(), arbitration: .init())
        var random = SplitMix64(seed: 11)
        var changes: [(SessionSpeechDetector.Transition, Int)] = []
        var offset = 0
        samples.withUnsafeBufferPointer { all in
            while offset < all.count {
                let count = min(pieces(&random), all.count - offset)
                let (turn, _) = detector.process(UnsafeBufferPointer(rebasing: all[offset..<(offset + count)]), agentPlaying: false)
                offset += count
                if turn != .none { changes.append((turn, offset)) }
            }
        }
        return changes
    }

    @Test func turnsChangeAtTheSameHopHoweverTheAudioIsCut() {
        let hop = CallerSpeechDetector.hopSamples
        let byHop = Self.turns(cutting: Self.caller) { _ in hop }
        // Each of the four talk spells starts a turn, and the pause after it ends it.
        #expect(byHop.map(\.0) == Array(repeating: [.speechStarted, .speechStopped], count: 4).flatMap { $0 })
        let cuttings: [(String, (inout SplitMix64) -> Int)] = [
            ("10 ms frames", { _ in hop / 2 }),
            ("30 ms frames", { _ in hop * 3 / 2 }),
            ("40 ms frames", { _ in hop * 2 }),
            ("random pieces", { Int($0.next() % 400) + 1 }),
        ]
        for (name, pieces) in cuttings {
            let cut = Self.turns(cutting: Self.caller, into: pieces)
            #expect(cut.map(\.0) == byHop.map(\.0), "\(name)")
            // A change is reported by the call whose samples complete its hop (at most one
            // change a call: with pieces longer than a hop, a later hop in the same call).
            for ((_, at), (_, hopEnd)) in zip(cut, byHop) {
                #expect(at >= hopEnd, "\(name)")
                #expect(at < hopEnd + 400, "\(name)")
            }
        }
    }
}
