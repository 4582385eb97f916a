// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

struct PerMessageDeflateTests {
    /// RFC 7692 §5–7: which offers are taken and what is answered.
    @Test func negotiation() throws {
        let plain = try #require(PerMessageDeflate.negotiate("permessage-deflate; client_max_window_bits"))
        #expect(plain.responseHeader == "permessage-deflate; server_no_context_takeover" && plain.serverWindowBits == 15)
        let limited = try #require(PerMessageDeflate.negotiate("permessage-deflate; server_max_window_bits=10; client_no_context_takeover"))
        #expect(limited.serverWindowBits == 10 && limited.responseHeader == "permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
        // The first acceptable offer wins; an unknown parameter, a window of 8 or a duplicate declines one.
        let second = try #require(PerMessageDeflate.negotiate("permessage-deflate; mystery=1, permessage-deflate"))
        #expect(second.serverWindowBits == 15)
        #expect(PerMessageDeflate.negotiate("permessage-deflate; server_max_window_bits=8") == nil)
        #expect(PerMessageDeflate.negotiate("permessage-deflate; server_no_context_takeover; server_no_context_takeover") == nil)
        #expect(PerMessageDeflate.negotiate("x-webkit-deflate-frame") == nil)
    }

    /// RFC 7692 §7.2.3.1's example: "Hello" compressed is c2 48 cd c9 c9 07 00 (no context).
    @Test func theRFCExampleInflates() throws {
        let inflater = try #require(PerMessageInflater())
        #expect(try inflater.decompress([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Array("Hello".utf8))
        // The same message again, compressed with the first as context (§7.2.3.2): f2 00 11 00 00.
        #expect(try inflater.decompress([0xF2, 0x00, 0x11, 0x00, 0x00]) == Array("Hello".utf8))
    }

    @Test func randomMessagesRoundTrip() throws {
        let deflater = try #require(PerMessageDeflater())
        let inflater = try #require(PerMessageInflater())
        var random = SplitMix64(seed: 7692)
        var failures = 0, wellCompressed = 0
        for round in 0..<200 {
            let count = Int(random.next() % 5000)
            // Half text-like (compressible), half noise.
            var message = [UInt8](repeating: 0, count: count)
            for i in 0..<count { message[i] = round % 2 == 0 ? UInt8(97 + (i / 7) % 5) : UInt8(truncatingIfNeeded: random.next()) }
            let compressed = try deflater.compress(message)
            if try inflater.decompress(compressed) != message { failures += 1 }
            if round % 2 == 0, count > 100, compressed.count < count / 2 { wellCompressed += 1 }
        }
        #expect(failures == 0)
        #expect(wellCompressed > 90, "text-like messages shrink: \(wellCompressed) of 100")
    }

}

/// Heavy on CPU: on the release build (make test-release), not among the debug tests.
struct PerMessageDeflateFuzzTests {
    /// A decompression bomb stops at the limit; garbage is an error, never a trap.
    @Test func bombsAndGarbageAreRefused() throws {
        let deflater = try #require(PerMessageDeflater())
        let bomb = try deflater.compress([UInt8](repeating: 0, count: 2_000_000))
        #expect(bomb.count < 10_000)
        let inflater = try #require(PerMessageInflater(maximumMessageBytes: 65_536))
        #expect(throws: PerMessageDeflateError.tooLarge(65_536)) { try inflater.decompress(bomb) }
        var random = SplitMix64(seed: 1951)
        var refused = 0
        for _ in 0..<2_000 {
            let fresh = try #require(PerMessageInflater(maximumMessageBytes: 65_536))
            let garbage = (0..<Int(random.next() % 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            do { _ = try fresh.decompress(garbage) } catch { refused += 1 }
        }
        #expect(refused > 1_000)
    }
}
