// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeRTP
import AudioBridgeTestSupport
import Testing

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        bytes.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)!)
    }
    return bytes
}

struct SRTPTests {
    static let master = SRTPMasterKey(key: hex("E1F97A0D3E018BE0D64FA32C06DE4139"), salt: hex("0EC675AD498AFEEBB6960B3AABE6"))!

    /// RFC 3711 appendix B.3.
    @Test func sessionKeysDeriveAsTheRFCLists() throws {
        let keys = try #require(SRTPSessionKeys(master: Self.master))
        #expect(keys.encryptionKey == hex("C61E7A93744F39EE10734AFE3FF7A087"))
        #expect(keys.salt == hex("30CBBC08863D8C85D49DB34A9AE1"))
        #expect(keys.authenticationKey == hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"))
    }

    /// RFC 3711 appendix B.2: the AES-CM keystream, including blocks where the 16-bit block
    /// counter is near its end.
    @Test func theKeystreamIsTheRFCs() throws {
        let stream = try #require(SRTPContext.keystream(sessionKey: hex("2B7E151628AED2A6ABF7158809CF4F3C"), sessionSalt: hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"), ssrc: 0, index: 0, count: 0xFF02 * 16))
        func block(_ n: Int) -> [UInt8] { Array(stream[(n * 16)..<(n * 16 + 16)]) }
        #expect(block(0) == hex("E03EAD0935C95E80E166B16DD92B4EB4"))
        #expect(block(1) == hex("D23513162B02D0F72A43A2FE4A5F97AB"))
        #expect(block(2) == hex("41E95B3BB0A2E8DD477901E4FCA894C0"))
        #expect(block(0xFEFF) == hex("EC8CDF7398607CB0F2D21675EA9EA1E4"))
        #expect(block(0xFF00) == hex("362B7C3C6773516318A077D7FC5073AE"))
        #expect(block(0xFF01) == hex("6A2CC3787889374FBEB4C81B17BA6C44"))
    }

    static func packet(sequence: UInt16, timestamp: UInt32 = 0, ssrc: UInt32 = 0xCAFE_F00D, csrcs: [UInt32] = [], payload: [UInt8]) -> [UInt8] {
        RTPPacket(header: RTPHeader(payloadType: 0, sequenceNumber: sequence, timestamp: timestamp, ssrc: ssrc), csrcs: csrcs, payload: payload).serialized()
    }

    static func protect(_ context: SRTPContext, _ packet: [UInt8]) throws -> [UInt8] {
        var buffer = packet + [UInt8](repeating: 0, count: context.profile.tagLength)
        let count = try buffer.withUnsafeMutableBytes { context.protect($0, length: packet.count) }.get()
        return Array(buffer.prefix(count))
    }

    static func unprotect(_ context: SRTPContext, _ packet: [UInt8]) throws(SRTPError) -> [UInt8] {
        var buffer = packet
        let count = try buffer.withUnsafeMutableBytes { context.unprotect($0, length: packet.count) }.get()
        return Array(buffer.prefix(count))
    }

    /// Both profiles, packets with CSRCs, across a sequence wrap: what one context protects the
    /// other restores byte for byte; the header stays in the clear, the payload does not.
    @Test(arguments: SRTPProfile.allCases)
    func protectedPacketsComeBackAcrossTheRollover(profile: SRTPProfile) throws {
        let sender = try #require(SRTPContext(profile: profile, masterKey: Self.master))
        let receiver = try #require(SRTPContext(profile: profile, masterKey: Self.master))
        var random = SplitMix64(seed: 3711)
        for i in 0..<300 {
            let payload = (0..<160).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let plain = Self.packet(sequence: UInt16(truncatingIfNeeded: 65_400 + i), timestamp: UInt32(i * 160), csrcs: i % 3 == 0 ? [7, 8] : [], payload: payload)
            let protected = try Self.protect(sender, plain)
            #expect(protected.count == plain.count + profile.tagLength)
            let headerLength = 12 + (i % 3 == 0 ? 8 : 0)
            #expect(Array(protected.prefix(headerLength)) == Array(plain.prefix(headerLength)))
            #expect(Array(protected[headerLength..<plain.count]) != payload)
            #expect(try Self.unprotect(receiver, protected) == plain)
        }
        #expect(receiver.unprotectedPackets == 300 && receiver.authenticationFailures == 0)
    }

    /// Any single flipped bit in a protected packet fails authentication, is counted, and
    /// leaves the buffer as it was.
    @Test func everyTamperedBitIsRejected() throws {
        let sender = try #require(SRTPContext(profile: .aes128CmHmacSha1_80, masterKey: Self.master))
        let receiver = try #require(SRTPContext(profile: .aes128CmHmacSha1_80, masterKey: Self.master))
        let protected = try Self.protect(sender, Self.packet(sequence: 1, payload: [UInt8](repeating: 0xFF, count: 160)))
        var rejected = 0
        for bit in 0..<(protected.count * 8) {
            var tampered = protected
            tampered[bit / 8] ^= 1 << (bit % 8)
            var buffer = tampered
            let result = buffer.withUnsafeMutableBytes { receiver.unprotect($0, length: tampered.count) }
            if case .failure = result { rejected += 1 }
            #expect(buffer == tampered)
        }
        #expect(rejected == protected.count * 8)
        #expect(receiver.authenticationFailures + receiver.malformedPackets == UInt64(rejected))
        #expect(try Self.unprotect(receiver, protected).count == 172, "the genuine packet still passes")
    }

    @Test func replaysAndTooOldPacketsAreRefusedReorderingIsNot() throws {
        let sender = try #require(SRTPContext(profile: .aes128CmHmacSha1_32, masterKey: Self.master))
        let receiver = try #require(SRTPContext(profile: .aes128CmHmacSha1_32, masterKey: Self.master))
        let packets = try (0..<100).map { try Self.protect(sender, Self.packet(sequence: UInt16(1000 + $0), payload: [UInt8($0)])) }
        _ = try Self.unprotect(receiver, packets[0])
        #expect(throws: SRTPError.replayed) { try Self.unprotect(receiver, packets[0]) }
        _ = try Self.unprotect(receiver, packets[5])
        _ = try Self.unprotect(receiver, packets[3])  // late, inside the window
        #expect(throws: SRTPError.replayed) { try Self.unprotect(receiver, packets[3]) }
        _ = try Self.unprotect(receiver, packets[99])
        #expect(throws: SRTPError.replayed) { try Self.unprotect(receiver, packets[20]) }  // 79 behind: outside the window
        _ = try Self.unprotect(receiver, packets[50])  // 49 behind: inside
        #expect(receiver.replays == 3)
    }

    @Test func aWrongKeyOrAShortPacketFails() throws {
        let other = try #require(SRTPMasterKey(keyAndSalt: [UInt8](repeating: 1, count: 30)))
        let sender = try #require(SRTPContext(profile: .aes128CmHmacSha1_80, masterKey: Self.master))
        let stranger = try #require(SRTPContext(profile: .aes128CmHmacSha1_80, masterKey: other))
        let protected = try Self.protect(sender, Self.packet(sequence: 9, payload: [1, 2, 3]))
        #expect(throws: SRTPError.authenticationFailed) { try Self.unprotect(stranger, protected) }
        #expect(throws: SRTPError.malformed(.tooShort(11))) { try Self.unprotect(stranger, Array(protected.prefix(21))) }
        #expect(throws: SRTPError.malformed(.badVersion(0))) { try Self.unprotect(stranger, [UInt8](repeating: 0, count: 40)) }
    }

    @Test func sdesKeyParametersParse() throws {
        let key = try SRTPMasterKey(sdes: "inline:" + Self.master.sdes + "|2^31")
        #expect(key == Self.master)
        #expect(try SRTPMasterKey(sdes: Self.master.sdes) == Self.master)
        #expect(throws: SRTPMasterKey.ParseError.mkiNotSupported) { try SRTPMasterKey(sdes: Self.master.sdes + "|2^20|1:4") }
        #expect(throws: SRTPMasterKey.ParseError.badBase64) { try SRTPMasterKey(sdes: "inline:not base64!") }
        #expect(throws: SRTPMasterKey.ParseError.badLength(3)) { try SRTPMasterKey(sdes: "AQID") }
        #expect(throws: SRTPMasterKey.ParseError.badLifetime) { try SRTPMasterKey(sdes: Self.master.sdes + "|soon") }
    }
}
