// SPDX-License-Identifier: MIT
import AudioBridgeRTP
import Testing

struct RTPReceiverStatisticsTests {
    /// Across a sequence-number wrap, with every 10th packet lost: the counts are RFC 3550
    /// A.3's (the first packet is the probation packet, so the count starts at the second).
    @Test func lossIsCountedAcrossTheSequenceWrap() {
        var statistics = RTPReceiverStatistics()
        var dropped = 0
        for i in 0..<2000 {
            let seq = UInt16(truncatingIfNeeded: 65_000 + i)
            if i > 2, i % 10 == 0 { dropped += 1; continue }
            statistics.update(sequenceNumber: seq, timestamp: UInt32(i * 160), arrival: Int64(i * 160))
        }
        #expect(statistics.extendedHighestSequence == 0x1_0000 + UInt32(truncatingIfNeeded: UInt16(truncatingIfNeeded: 65_000 + 1999)))
        #expect(statistics.expected == 1999)
        #expect(statistics.cumulativeLost == Int32(dropped))
        #expect(statistics.jitter == 0, "a constant transit time has no jitter")
        // One report interval: 10 % lost is 25/256.
        #expect(statistics.fractionLostSinceLastReport() == UInt8((dropped << 8) / 1999))
        #expect(statistics.fractionLostSinceLastReport() == 0, "nothing new since the last report")
    }

    /// A.8 on a known pattern: arrivals alternately on time and 80 samples late make |D| = 80
    /// every packet, so the estimate converges to 80.
    @Test func jitterConvergesToTheTransitVariation() {
        var statistics = RTPReceiverStatistics()
        for i in 0..<500 {
            statistics.update(sequenceNumber: UInt16(i), timestamp: UInt32(i * 160), arrival: Int64(i * 160 + (i % 2) * 80))
        }
        #expect(statistics.jitter >= 78 && statistics.jitter <= 80)
    }

    @Test func duplicatesCountAsReceivedAndJumpsNeedConfirmation() {
        var statistics = RTPReceiverStatistics()
        for i in 0..<10 { statistics.update(sequenceNumber: UInt16(100 + i), timestamp: 0, arrival: 0) }
        statistics.update(sequenceNumber: 105, timestamp: 0, arrival: 0)  // duplicate
        #expect(statistics.cumulativeLost == -1)
        // A lone packet far ahead is not believed; a second one following it is a restart.
        #expect(statistics.invalid == 1, "the first packet, on probation")
        let loneJump = statistics.update(sequenceNumber: 20_000, timestamp: 0, arrival: 0)
        #expect(!loneJump)
        #expect(statistics.invalid == 2)
        let confirmed = statistics.update(sequenceNumber: 20_001, timestamp: 0, arrival: 0)
        #expect(confirmed)
        #expect(statistics.expected == 1 && statistics.received == 1)
    }
}
