// SPDX-License-Identifier: MIT
// How long the agent's voice takes to come back as echo in the caller channel, in 20 ms hops
// (0 … `maximumDelayHops` − 1). At the bridge the echo travels the whole round trip to the phone
// and back: a PBX's and a carrier's buffers, a cellular leg, 200–500 ms is common, and it drifts.
//
// Method (binary spectra, as in the classic delay estimators of echo cancellers): each hop, the
// caller's and the reference's 16 band energies are each reduced to 16 bits — is this band
// louder than its own running level? For every candidate delay, the share of bits on which the
// caller now and the reference that many hops ago disagree is averaged over time, on hops where
// the reference was playing and the caller is not talking. Echo makes one delay agree far
// better than the rest; that delay is taken once it is clearly the best, and given up for
// another only when that one is clearly better (so it follows drift without flapping).
//
// Plain value state in fixed-size inline arrays: realtime-safe, nothing allocated.
public struct EchoDelayEstimator: Sendable {
    public static let maximumDelayHops = 40  // 800 ms
    public static let bandCount = 16

    /// The delay the echo comes back with, in hops; nil until one is clearly the best.
    public private(set) var delayHops: Int?

    /// Running log-level per band, of the caller and of the reference.
    private var callerMeans: InlineArray<16, Float> = .init(repeating: 0)
    private var referenceMeans: InlineArray<16, Float> = .init(repeating: 0)
    /// The reference's bit patterns of the last `maximumDelayHops` hops (ring; bit 16: it played).
    private var referencePatterns: InlineArray<40, UInt32> = .init(repeating: 0)
    private var newest = 0
    /// Average disagreement (0…16 bits) per candidate delay.
    private var disagreement: InlineArray<40, Float> = .init(repeating: 8)
    private var updates: InlineArray<40, Int32> = .init(repeating: 0)
    private var callerHops = 0
    private var referenceHops = 0

    private static let played: UInt32 = 1 << 16
    private static let smoothing: Float = 0.04
    /// Updates a delay needs before it can be taken (about 0.6 s of agent speech).
    private static let minimumUpdates: Int32 = 30

    public init() {}

    public mutating func reset() { self = EchoDelayEstimator() }

    /// One hop: the caller's and the reference's band energies (spectrum units; 0 where silent),
    /// whether the reference played this hop, and whether the caller may be talking (then the
    /// caller channel is not only echo, and the averages are not updated).
    public mutating func update(callerBands: InlineArray<16, Float>, referenceBands: InlineArray<16, Float>,
                                referencePlayed: Bool, callerTalking: Bool) {
        newest = (newest + 1) % Self.maximumDelayHops
        var referenceBits: UInt32 = 0
        if referencePlayed {
            referenceBits = Self.played | Self.pattern(referenceBands, means: &referenceMeans, count: &referenceHops)
        }
        referencePatterns[newest] = referenceBits
        let callerBits = Self.pattern(callerBands, means: &callerMeans, count: &callerHops)
        guard !callerTalking else { return }
        for delay in 0..<Self.maximumDelayHops {
            let reference = referencePatterns[(newest - delay + Self.maximumDelayHops) % Self.maximumDelayHops]
            guard reference & Self.played != 0 else { continue }
            let differing = Float(((reference ^ callerBits) & 0xFFFF).nonzeroBitCount)
            disagreement[delay] += Self.smoothing * (differing - disagreement[delay])
            if updates[delay] < Int32.max { updates[delay] += 1 }
        }
        choose()
    }

    /// Bit b: band b is above its running level (log2 of the power), which follows the band
    /// slowly.
    private static func pattern(_ bands: InlineArray<16, Float>, means: inout InlineArray<16, Float>, count: inout Int) -> UInt32 {
        var bits: UInt32 = 0
        let rate: Float = count < 50 ? 1 / Float(count + 1) : 0.02
        for band in 0..<bandCount {
            let level = approximateLog2(max(bands[band], 1e-3))
            if count > 0, level > means[band] { bits |= 1 << UInt32(band) }
            means[band] += rate * (level - means[band])
        }
        count += 1
        return bits
    }

    /// log2 from the float's exponent and mantissa (piecewise linear, within 0.09 of the true
    /// value: ample for a louder-or-not bit, and no libm call per band).
    @inline(__always)
    static func approximateLog2(_ x: Float) -> Float {
        Float(x.bitPattern) * (1 / Float(1 << 23)) - 127
    }

    private mutating func choose() {
        var best = -1
        var sum: Float = 0, counted = 0
        for delay in 0..<Self.maximumDelayHops where updates[delay] >= Self.minimumUpdates {
            sum += disagreement[delay]
            counted += 1
            if best < 0 || disagreement[delay] < disagreement[best] { best = delay }
        }
        guard best >= 0, counted >= 4 else { return }
        let mean = sum / Float(counted)
        // Clearly the best: well under the typical disagreement (unrelated patterns differ in
        // about half their bits).
        guard disagreement[best] < 0.7 * mean else { return }
        if let current = delayHops, current != best, disagreement[best] > 0.85 * disagreement[current] { return }
        delayHops = best
    }
}
