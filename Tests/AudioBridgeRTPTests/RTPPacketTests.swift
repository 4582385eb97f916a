// SPDX-License-Identifier: MIT
import AudioBridgeRTP
import AudioBridgeTestSupport
import Testing

struct RTPPacketTests {
    /// protocols.md §6.2's worked example, audio packet #1.
    @Test func theWorkedExampleParses() throws {
        let bytes: [UInt8] = [0x80, 0x80, 0x1F, 0x40, 0x00, 0x00, 0xA0, 0x00, 0xDE, 0xAD, 0xBE, 0xEF] + [UInt8](repeating: 0xFF, count: 160)
        let view = try RTPPacketView.parse(bytes)
        #expect(view.header == RTPHeader(marker: true, payloadType: 0, sequenceNumber: 8000, timestamp: 40960, ssrc: 0xDEADBEEF))
        #expect(view.payloadRange == 12..<172)
        #expect(view.csrcCount == 0 && view.extensionProfile == nil && view.paddingCount == 0)
        var written = [UInt8](repeating: 0, count: 12)
        written.withUnsafeMutableBytes { _ = view.header.write(to: $0) }
        #expect(written == Array(bytes.prefix(12)))
    }

    /// Random packets with every optional part RTP has (CSRCs, an extension, padding) come back
    /// from their bytes as they went in.
    @Test func everyRandomPacketRoundTrips() throws {
        var random = SplitMix64(seed: 3550)
        for _ in 0..<5_000 {
            let r = random.next()
            let header = RTPHeader(marker: r & 1 == 1, payloadType: UInt8(truncatingIfNeeded: r >> 1) & 0x7F, sequenceNumber: UInt16(truncatingIfNeeded: r >> 8), timestamp: UInt32(truncatingIfNeeded: random.next()), ssrc: UInt32(truncatingIfNeeded: random.next()))
            let csrcs = (0..<Int(r >> 24 & 15)).map { _ in UInt32(truncatingIfNeeded: random.next()) }
            let extensionWords = Int(r >> 28 & 7)
            let headerExtension: (profile: UInt16, data: [UInt8])? = r >> 31 & 1 == 1 ? (UInt16(truncatingIfNeeded: r >> 32), (0..<(4 * extensionWords)).map { _ in UInt8(truncatingIfNeeded: random.next()) }) : nil
            let payload = (0..<Int(r >> 40 % 400)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let padding = r >> 50 & 1 == 1 ? Int(r >> 52 & 0xFF) : 0
            let packet = RTPPacket(header: header, csrcs: csrcs, headerExtension: headerExtension, payload: payload, paddingCount: padding)
            let bytes = packet.serialized()
            #expect(try RTPPacket(parsing: bytes) == packet)
            let view = try RTPPacketView.parse(bytes)
            #expect(bytes.withUnsafeBytes { try? RTPPacketView.headerLength($0).get() } == view.payloadOffset)
        }
    }

    @Test func malformedPacketsAreTypedErrors() {
        let good = RTPPacket(header: RTPHeader(payloadType: 0, sequenceNumber: 1, timestamp: 2, ssrc: 3), payload: [1, 2, 3, 4]).serialized()
        #expect(throws: RTPError.tooShort(11)) { try RTPPacketView.parse(Array(good.prefix(11))) }
        var version1 = good; version1[0] = 0x40
        #expect(throws: RTPError.badVersion(1)) { try RTPPacketView.parse(version1) }
        var csrcs = good; csrcs[0] |= 0x0F  // 15 CSRCs announced, 4 bytes follow
        #expect(throws: RTPError.tooShort(16)) { try RTPPacketView.parse(csrcs) }
        var ext = good; ext[0] |= 0x10  // extension header of 0xBEDE, 0x0102 words in 4 bytes
        ext[12...15] = [0xBE, 0xDE, 0x01, 0x02]
        #expect(throws: RTPError.extensionOverrun) { try RTPPacketView.parse(ext) }
        var zeroPadding = good; zeroPadding[0] |= 0x20; zeroPadding[15] = 0
        #expect(throws: RTPError.badPadding(0)) { try RTPPacketView.parse(zeroPadding) }
        var longPadding = good; longPadding[0] |= 0x20; longPadding[15] = 5
        #expect(throws: RTPError.badPadding(5)) { try RTPPacketView.parse(longPadding) }
        var allPadding = good; allPadding[0] |= 0x20; allPadding[15] = 4
        #expect((try? RTPPacketView.parse(allPadding))?.payloadCount == 0)
    }

}

/// Heavy on CPU: on the release build (make test-release), not among the debug tests.
struct RTPPacketFuzzTests {
    /// Random bytes and mutated valid packets: parse either fails with RTPError or returns a
    /// payload inside the packet — never a trap, never a range past the end.
    @Test func halfAMillionMutatedPacketsNeverTrap() {
        var random = SplitMix64(seed: 1889)
        var parsed = 0
        for round in 0..<500_000 {
            var bytes: [UInt8]
            if round % 4 == 0 {
                bytes = (0..<Int(random.next() % 80)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            } else {
                let packet = RTPPacket(header: RTPHeader(payloadType: 8, sequenceNumber: 7, timestamp: 9, ssrc: 11), csrcs: [1, 2], headerExtension: (0xBEDE, [1, 2, 3, 4]), payload: [UInt8](repeating: 0xD5, count: 40), paddingCount: 3)
                bytes = packet.serialized()
                for _ in 0..<(1 + random.next() % 4) {
                    let position = Int(random.next() % UInt64(bytes.count))
                    bytes[position] = UInt8(truncatingIfNeeded: random.next())
                }
                if random.next() % 3 == 0 { bytes.removeLast(Int(random.next() % UInt64(bytes.count))) }
            }
            if let view = try? RTPPacketView.parse(bytes) {
                parsed += 1
                #expect(view.payloadOffset >= 12 && view.payloadRange.upperBound + view.paddingCount == bytes.count)
            }
        }
        #expect(parsed > 100_000, "mutations still produced valid packets: \(parsed)")
    }
}
