// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

struct JSONTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONParser.parse(#" {"a": [1, -2.5e3, 0, true, false, null], "b": {"c": "d\u00e9\n\"\\/"}, "e": "\ud83d\ude00", "": 7} "#)
        #expect(value["a"] == [1, .number("-2.5e3"), 0, true, false, nil])
        #expect(value["b"]?["c"]?.string == "dé\n\"\\/")
        #expect(value["e"]?.string == "😀")
        #expect(value[""]?.int == 7)
        #expect(value["missing"] == nil)
    }

    @Test func numbersKeepTheirTextAndStringsReadAsIntegers() throws {
        let value = try JSONParser.parse(#"{"big": 9007199254740993, "seq": "42", "x": 1.5}"#)
        #expect(value["big"]?.int == 9_007_199_254_740_993)
        #expect(value["seq"]?.int == 42)
        #expect(value["x"]?.double == 1.5)
        #expect(value["x"]?.int == nil)
    }

    @Test func malformedTextIsATypedError() {
        let bad: [(String, JSONError)] = [
            ("", .unexpectedEnd), ("{", .unexpectedEnd), ("[1,]", .unexpectedByte(UInt8(ascii: "]"), at: 3)),
            ("{\"a\" 1}", .unexpectedByte(UInt8(ascii: "1"), at: 5)), ("01", .trailingBytes(at: 1)), ("-", .badNumber(at: 0)),
            ("1.", .badNumber(at: 0)), ("1e", .badNumber(at: 0)), ("\"\\x\"", .badEscape(at: 1)), ("\"\\ud800\"", .badEscape(at: 1)),
            ("\"\\udc00\"", .badEscape(at: 1)), ("\"a\u{01}\"", .unexpectedByte(1, at: 2)), ("tru", .unexpectedEnd), ("nul!", .unexpectedByte(UInt8(ascii: "!"), at: 3)),
            ("[1] 2", .trailingBytes(at: 4)), ("{'a': 1}", .unexpectedByte(UInt8(ascii: "'"), at: 1)),
        ]
        for (text, error) in bad {
            #expect(throws: error, "\(text)") { try JSONParser.parse(text) }
        }
        #expect(throws: JSONError.badUTF8) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        #expect(throws: JSONError.tooDeep) { try JSONParser.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) }
        #expect(throws: JSONError.tooLarge(11)) { try JSONParser.parse(Array("[1,2,3,4,5]".utf8), maximumBytes: 10) }
    }

    /// Writing then parsing gives the value back, for random values (strings with every kind of
    /// character that needs escaping).
    @Test func writeThenParseIsTheIdentity() throws {
        var rng = SplitMix64(seed: 7)
        func random(depth: Int) -> JSONValue {
            switch rng.next() % (depth > 3 ? 4 : 6) {
            case 0: return .null
            case 1: return .bool(rng.next() % 2 == 0)
            case 2: return .number(String(Int64(bitPattern: rng.next()) >> (rng.next() % 60)))
            case 3:
                let scalars = (0..<(rng.next() % 12)).map { _ in [0x00, 0x1F, 0x22, 0x5C, 0x41, 0xE9, 0x1F600, 0x2028][Int(rng.next() % 8)] }
                return .string(String(String.UnicodeScalarView(scalars.compactMap { Unicode.Scalar(UInt32($0)) })))
            case 4: return .array((0..<(rng.next() % 4)).map { _ in random(depth: depth + 1) })
            default: return .object((0..<(rng.next() % 4)).map { index in ("k\(index)", random(depth: depth + 1)) })
            }
        }
        for _ in 0..<2000 {
            let value = random(depth: 0)
            #expect(try JSONParser.parse(value.jsonText) == value, "\(value.jsonText)")
        }
    }

    /// Random bytes and mutated valid documents never trap and fail only with JSONError.
    @Test func randomInputNeverTraps() {
        var rng = SplitMix64(seed: 11)
        let valid = Array(#"{"event":"media","media":{"payload":"AAEC","chunk":"1"},"x":[1,2.5e-3,true,null]}"#.utf8)
        var parsed = 0
        for round in 0..<100_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = valid
                for _ in 0..<(1 + rng.next() % 3) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            if (try? JSONParser.parse(bytes)) != nil { parsed += 1 }
        }
        #expect(parsed > 0 && parsed < 100_000)
    }
}

struct Base64Tests {
    @Test func rfc4648Vectors() throws {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(try Base64.decode(encoded) == Array(plain.utf8))
        }
        // Twilio's 20 ms of μ-law silence: 160 × 0xFF is 216 characters.
        let silence = Base64.encode([UInt8](repeating: 0xFF, count: 160))
        #expect(silence.utf8.count == 216 && silence.hasPrefix("////") && silence.hasSuffix("/w=="))
    }

    @Test func everyLengthAndByteRoundTrips() throws {
        var rng = SplitMix64(seed: 3)
        for length in 0..<300 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            #expect(try Base64.decode(Base64.encode(bytes)) == bytes)
        }
    }

    @Test func malformedInputIsRejected() {
        #expect(throws: Base64.DecodingError.badLength(3)) { try Base64.decode("Zm9") }
        #expect(throws: Base64.DecodingError.badCharacter(at: 2)) { try Base64.decode("Zm 9") }
        #expect(throws: Base64.DecodingError.badPadding) { try Base64.decode("Z===") }
        #expect(throws: Base64.DecodingError.badPadding) { try Base64.decode("Zg==Zm9v") }
        #expect(throws: Base64.DecodingError.badPadding) { try Base64.decode("Zm=v") }
        #expect(throws: Base64.DecodingError.badPadding) { try Base64.decode("Zh==") }  // non-zero pad bits
    }
}
