// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import Testing

struct WebSocketMessageAssemblerTests {
    private typealias Assembler = WebSocketMessageAssembler

    private static func frame(_ assembler: inout Assembler, _ opcode: Assembler.Opcode, fin: Bool, rsv1: Bool = false, rsv2: Bool = false,
                              _ payload: [UInt8]) throws(WebSocketMessageFailure) -> WebSocketMessage? {
        try assembler.receive(opcode: opcode, fin: fin, rsv1: rsv1, rsv2: rsv2, rsv3: false, payload: payload)
    }

    /// RFC 6455 §5.4: a first frame, continuations, and only the last one gives the message;
    /// a single frame is a message at once; the assembler is ready for the next one after.
    @Test func fragmentsAreJoined() throws {
        var assembler = Assembler(maximumMessageBytes: 100, inflater: nil)
        #expect(try Self.frame(&assembler, .text, fin: false, Array("Hel".utf8)) == nil)
        #expect(try Self.frame(&assembler, .continuation, fin: false, []) == nil)
        #expect(try Self.frame(&assembler, .continuation, fin: true, Array("lo".utf8)) == .text(Array("Hello".utf8)))
        #expect(try Self.frame(&assembler, .binary, fin: true, [1, 2, 3]) == .binary([1, 2, 3]))
    }

    @Test func framingErrorsAreRefused() throws {
        var assembler = Assembler(maximumMessageBytes: 100, inflater: nil)
        #expect(throws: WebSocketMessageFailure.badFraming) { try Self.frame(&assembler, .continuation, fin: true, [1]) }
        #expect(throws: WebSocketMessageFailure.badFraming) { try Self.frame(&assembler, .text, fin: true, rsv1: true, [1]) }
        #expect(throws: WebSocketMessageFailure.badFraming) { try Self.frame(&assembler, .text, fin: true, rsv2: true, [1]) }
        _ = try Self.frame(&assembler, .binary, fin: false, [1])
        #expect(throws: WebSocketMessageFailure.badFraming) { try Self.frame(&assembler, .text, fin: true, [2]) }
    }

    /// The limit counts the whole message, across its fragments.
    @Test func aMessageOverTheLimitIsRefused() throws {
        var assembler = Assembler(maximumMessageBytes: 10, inflater: nil)
        _ = try Self.frame(&assembler, .binary, fin: false, [UInt8](repeating: 0, count: 6))
        #expect(throws: WebSocketMessageFailure.tooLarge(12)) { try Self.frame(&assembler, .continuation, fin: true, [UInt8](repeating: 0, count: 6)) }
    }

    /// RFC 7692: RSV1 on the first frame marks the message compressed; the fragments are joined
    /// before inflating; RSV1 on a continuation is a framing error; what does not inflate is
    /// badCompression, and what inflates past the limit is tooLarge.
    @Test func compressedMessagesAreInflatedWhole() throws {
        let hello: [UInt8] = [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]  // RFC 7692 §7.2.3.1
        var assembler = Assembler(maximumMessageBytes: 100, inflater: try #require(PerMessageInflater(maximumMessageBytes: 100)))
        #expect(try Self.frame(&assembler, .text, fin: false, rsv1: true, Array(hello[..<3])) == nil)
        #expect(try Self.frame(&assembler, .continuation, fin: true, Array(hello[3...])) == .text(Array("Hello".utf8)))
        _ = try Self.frame(&assembler, .text, fin: false, rsv1: true, Array(hello[..<3]))
        #expect(throws: WebSocketMessageFailure.badFraming) { try Self.frame(&assembler, .continuation, fin: true, rsv1: true, Array(hello[3...])) }

        var fresh = Assembler(maximumMessageBytes: 100, inflater: try #require(PerMessageInflater(maximumMessageBytes: 100)))
        #expect(throws: WebSocketMessageFailure.badCompression) { try Self.frame(&fresh, .binary, fin: true, rsv1: true, [0xFF, 0xFF, 0xFF]) }
        let deflater = try #require(PerMessageDeflater())
        var small = Assembler(maximumMessageBytes: 100, inflater: try #require(PerMessageInflater(maximumMessageBytes: 100)))
        let bomb = try deflater.compress([UInt8](repeating: 0, count: 1000))
        #expect(throws: WebSocketMessageFailure.tooLarge(100)) { try Self.frame(&small, .binary, fin: true, rsv1: true, bomb) }
    }
}
