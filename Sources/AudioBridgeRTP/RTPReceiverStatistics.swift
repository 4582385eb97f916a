// SPDX-License-Identifier: MIT
// What a receiver knows about one RTP source (RFC 3550 appendix A): sequence validation with
// wrap-around counting (A.1), expected / lost packets cumulative and per report interval (A.3),
// and the interarrival jitter estimate (A.8). The quantities are the ones an RTCP receiver
// report carries, so they read the same as every other RTP stack's. Realtime-safe: plain
// integers only.

public struct RTPReceiverStatistics: Sendable {
    /// Packets in order before a new source counts as valid (A.1 MIN_SEQUENTIAL).
    public static let minimumSequential = 2
    /// A forward jump up to this many is loss, beyond it a possible restart (A.1 MAX_DROPOUT).
    public static let maximumDropout: UInt16 = 3000
    /// A backward step up to this many is a reordered or duplicate packet (A.1 MAX_MISORDER).
    public static let maximumMisorder: UInt16 = 100

    private var maxSequence: UInt16 = 0
    private var cycles: UInt32 = 0
    private var baseSequence: UInt32 = 0
    private var badSequence: UInt32 = 0x1_0001
    private var probation = 0
    private var started = false
    /// Packets received and valid (duplicates included, as A.3 counts them).
    public private(set) var received: UInt64 = 0
    private var expectedPrior: UInt64 = 0
    private var receivedPrior: UInt64 = 0
    /// Relative transit time of the previous packet, timestamp units.
    private var transit: Int64 = 0
    private var hasTransit = false
    /// Jitter × 16 (A.8 keeps the extra 4 bits of precision).
    private var scaledJitter: UInt64 = 0
    /// Packets refused as not (yet) in sequence: probation, or a large jump not confirmed.
    public private(set) var invalid: UInt64 = 0

    public init() {}

    /// The highest sequence number seen, extended with the count of wrap-arounds.
    public var extendedHighestSequence: UInt32 { cycles &+ UInt32(maxSequence) }

    public var expected: UInt64 {
        guard started, probation == 0 else { return 0 }
        return UInt64(extendedHighestSequence) &+ 1 &- UInt64(baseSequence)
    }

    /// Cumulative packets lost (expected − received; negative with duplicates), clamped to the
    /// 24-bit signed field of a receiver report.
    public var cumulativeLost: Int32 {
        let lost = Int64(bitPattern: expected) - Int64(bitPattern: received)
        return Int32(max(-0x80_0000, min(0x7F_FFFF, lost)))
    }

    /// Interarrival jitter in timestamp units (samples at 8 kHz).
    public var jitter: UInt32 { UInt32(truncatingIfNeeded: scaledJitter >> 4) }

    /// Updates the counts for one packet. Returns false for a packet that is not (yet) part of
    /// a valid sequence (A.1). `arrival` is the arrival time in timestamp units, any origin.
    @discardableResult
    public mutating func update(sequenceNumber seq: UInt16, timestamp: UInt32, arrival: Int64) -> Bool {
        guard updateSequence(seq) else { invalid &+= 1; return false }
        // A.8: D is the change in relative transit time between consecutive packets.
        let transitNow = arrival &- Int64(timestamp)
        if hasTransit {
            var d = transitNow &- transit
            // Timestamps wrap at 2^32: a step across it is a small step, not 2^32.
            d = Int64(Int32(truncatingIfNeeded: d))
            let magnitude = UInt64(d < 0 ? -d : d)
            scaledJitter = scaledJitter &+ magnitude &- ((scaledJitter &+ 8) >> 4)
        }
        transit = transitNow
        hasTransit = true
        return true
    }

    /// The fraction lost since the previous call, as the 8-bit fixed-point number of a receiver
    /// report (lost/expected × 256; 0 when nothing was lost or duplicates outnumber losses).
    public mutating func fractionLostSinceLastReport() -> UInt8 {
        let expectedNow = expected
        let expectedInterval = expectedNow &- expectedPrior
        expectedPrior = expectedNow
        let receivedInterval = received &- receivedPrior
        receivedPrior = received
        let lostInterval = Int64(bitPattern: expectedInterval) - Int64(bitPattern: receivedInterval)
        guard expectedInterval > 0, lostInterval > 0 else { return 0 }
        return UInt8(truncatingIfNeeded: (UInt64(lostInterval) << 8) / expectedInterval)
    }

    private mutating func start(_ seq: UInt16) {
        baseSequence = UInt32(seq)
        maxSequence = seq
        badSequence = 0x1_0001
        cycles = 0
        received = 0
        receivedPrior = 0
        expectedPrior = 0
    }

    private mutating func updateSequence(_ seq: UInt16) -> Bool {
        if !started {
            started = true
            start(seq)
            maxSequence = seq &- 1
            probation = Self.minimumSequential
        }
        let delta = seq &- maxSequence
        if probation > 0 {
            if seq == maxSequence &+ 1 {
                probation -= 1
                maxSequence = seq
                if probation == 0 {
                    start(seq)
                    received &+= 1
                    return true
                }
            } else {
                probation = Self.minimumSequential - 1
                maxSequence = seq
            }
            return false
        } else if delta < Self.maximumDropout {
            if seq < maxSequence { cycles &+= 0x1_0000 }
            maxSequence = seq
        } else if UInt32(delta) <= 0x1_0000 - UInt32(Self.maximumMisorder) {
            // A very large jump: a restart if the next packet follows it, otherwise garbage.
            if UInt32(seq) == badSequence {
                start(seq)
            } else {
                badSequence = (UInt32(seq) + 1) & 0xFFFF
                return false
            }
        }
        // Otherwise a duplicate or reordered packet: counted, the maximum unchanged.
        received &+= 1
        return true
    }
}
