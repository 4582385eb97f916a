// SPDX-License-Identifier: MIT
import AudioBridgeCore
import Testing

struct EchoDelayEstimatorTests {
    /// Random band energies for a talking reference, hop by hop.
    static func bands(_ random: inout ArbiterTestRandom) -> InlineArray<16, Float> {
        var bands = InlineArray<16, Float>(repeating: 0)
        for band in 0..<16 { bands[band] = Float(1 + random.next() % 1_000_000) }
        return bands
    }

    /// Feeds `hops` hops in which the caller channel is the reference `delay(hop)` hops late
    /// (scaled, plus a little noise); returns the estimate after each hop.
    static func run(hops: Int, seed: UInt64, echo: Bool = true, delay: (Int) -> Int) -> [Int?] {
        var random = ArbiterTestRandom(seed: seed)
        var history: [InlineArray<16, Float>] = []
        var estimator = EchoDelayEstimator()
        var estimates: [Int?] = []
        for hop in 0..<hops {
            history.append(bands(&random))
            var caller = InlineArray<16, Float>(repeating: 1)
            let back = delay(hop)
            for band in 0..<16 {
                let noise = Float(random.next() % 1000)
                caller[band] = echo && back < history.count ? history[history.count - 1 - back][band] * 0.05 + noise : Float(1 + random.next() % 1_000_000)
            }
            estimator.update(callerBands: caller, referenceBands: history.last!, referencePlayed: true, callerTalking: false)
            estimates.append(estimator.delayHops)
        }
        return estimates
    }

    @Test func findsEveryDelayUpTo780Milliseconds() {
        for delay in [0, 1, 3, 13, 20, 30, 39] {
            let estimates = Self.run(hops: 300, seed: UInt64(delay + 1)) { _ in delay }
            #expect(estimates.last == delay, "delay \(delay): \(String(describing: estimates.last))")
            let first = estimates.firstIndex { $0 == delay }
            #expect((first ?? 300) <= 150, "delay \(delay) found at hop \(String(describing: first))")
        }
    }

    @Test func followsADriftingDelay() {
        let estimates = Self.run(hops: 1200, seed: 7) { $0 < 400 ? 12 : 17 }
        #expect(estimates[399] == 12)
        #expect(estimates.last == 17, "followed to \(String(describing: estimates.last))")
    }

    @Test func noEchoNoDelay() {
        let estimates = Self.run(hops: 600, seed: 9, echo: false) { _ in 5 }
        #expect(estimates.allSatisfy { $0 == nil }, "a delay was taken without echo: \(estimates.compactMap { $0 }.prefix(5))")
    }

    @Test func nothingIsLearntWhileTheCallerTalksOrTheAgentIsSilent() {
        var random = ArbiterTestRandom(seed: 3)
        var estimator = EchoDelayEstimator()
        for _ in 0..<500 {
            let bands = Self.bands(&random)
            estimator.update(callerBands: bands, referenceBands: bands, referencePlayed: true, callerTalking: true)
            // The agent is silent: the caller channel is something else (nothing to learn from).
            estimator.update(callerBands: Self.bands(&random), referenceBands: bands, referencePlayed: false, callerTalking: false)
        }
        #expect(estimator.delayHops == nil)
    }
}
