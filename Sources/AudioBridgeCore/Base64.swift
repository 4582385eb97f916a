// SPDX-License-Identifier: MIT
// Base64 (RFC 4648 §4, standard alphabet, padded) for audio carried in JSON (Twilio media
// payloads, OpenAI Realtime audio) and SRTP keys in SDES. Decoding is strict (no whitespace,
// correct padding, zero pad bits) and writes into caller storage, so a media payload costs no
// allocation of its own.

public enum Base64 {
    public enum DecodingError: Error, Equatable, Sendable {
        case badLength(Int)
        case badCharacter(at: Int)
        case badPadding
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    /// Byte → 6-bit value, 0xFF for bytes outside the alphabet.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    public static func encodedCount(_ byteCount: Int) -> Int { (byteCount + 2) / 3 * 4 }

    public static func encode(_ bytes: some Collection<UInt8>, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + encodedCount(bytes.count))
        var iterator = bytes.makeIterator()
        while let a = iterator.next() {
            let b = iterator.next(), c = iterator.next()
            let group = UInt32(a) << 16 | UInt32(b ?? 0) << 8 | UInt32(c ?? 0)
            out.append(alphabet[Int(group >> 18 & 63)])
            out.append(alphabet[Int(group >> 12 & 63)])
            out.append(b == nil ? UInt8(ascii: "=") : alphabet[Int(group >> 6 & 63)])
            out.append(c == nil ? UInt8(ascii: "=") : alphabet[Int(group & 63)])
        }
    }

    /// Encodes into caller storage (at least `encodedCount(bytes.count)` bytes); returns the
    /// count written. No allocation: for audio sent every 20 ms.
    public static func encode(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        precondition(out.count >= encodedCount(bytes.count))
        var written = 0
        var index = 0
        alphabet.withUnsafeBufferPointer { alphabet in
            while index < bytes.count {
                let remaining = bytes.count - index
                let a = bytes[index], b = remaining > 1 ? bytes[index + 1] : 0, c = remaining > 2 ? bytes[index + 2] : 0
                let group = UInt32(a) << 16 | UInt32(b) << 8 | UInt32(c)
                out[written] = alphabet[Int(group >> 18 & 63)]
                out[written + 1] = alphabet[Int(group >> 12 & 63)]
                out[written + 2] = remaining > 1 ? alphabet[Int(group >> 6 & 63)] : UInt8(ascii: "=")
                out[written + 3] = remaining > 2 ? alphabet[Int(group & 63)] : UInt8(ascii: "=")
                written += 4
                index += 3
            }
        }
        return written
    }

    /// Array overloads: what other modules should call (generic calls across a module
    /// boundary run unspecialized, about one allocation per byte).
    public static func encode(_ bytes: [UInt8], into out: inout [UInt8]) { encode(bytes[...], into: &out) }
    public static func decode(_ text: [UInt8], into out: inout [UInt8]) throws(DecodingError) { try decode(text[...], into: &out) }

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var out: [UInt8] = []
        encode(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func decodedCount(_ text: some Collection<UInt8>) -> Int {
        guard text.count >= 4, text.count % 4 == 0 else { return text.count / 4 * 3 }
        let padding = text.reversed().prefix(2).prefix { $0 == UInt8(ascii: "=") }.count
        return text.count / 4 * 3 - padding
    }

    /// Appends the decoded bytes of `text` to `out`.
    public static func decode(_ text: some Collection<UInt8>, into out: inout [UInt8]) throws(DecodingError) {
        guard text.count % 4 == 0 else { throw .badLength(text.count) }
        out.reserveCapacity(out.count + decodedCount(text))
        var quad: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        var filled = 0, padding = 0, position = 0
        for byte in text {
            defer { position += 1 }
            let value: UInt8
            if byte == UInt8(ascii: "=") {
                // Padding only in the last two places of the last quad.
                guard position >= text.count - 2, filled >= 2 else { throw .badPadding }
                padding += 1
                value = 0
            } else {
                guard padding == 0 else { throw .badPadding }
                value = values[Int(byte)]
                guard value != 0xFF else { throw .badCharacter(at: position) }
            }
            switch filled {
            case 0: quad.0 = value
            case 1: quad.1 = value
            case 2: quad.2 = value
            default: quad.3 = value
            }
            filled += 1
            if filled == 4 {
                let group = UInt32(quad.0) << 18 | UInt32(quad.1) << 12 | UInt32(quad.2) << 6 | UInt32(quad.3)
                // Canonical form: the bits a padded quad does not carry must be zero.
                if padding == 2, group & 0xFFFF != 0 { throw .badPadding }
                if padding == 1, group & 0xFF != 0 { throw .badPadding }
                out.append(UInt8(truncatingIfNeeded: group >> 16))
                if padding < 2 { out.append(UInt8(truncatingIfNeeded: group >> 8)) }
                if padding < 1 { out.append(UInt8(truncatingIfNeeded: group)) }
                filled = 0
            }
        }
    }

    /// Decodes into caller storage (at least `text.count / 4 * 3` bytes); returns the count
    /// written. The same rules and errors as the array form, and no allocation: for audio that
    /// arrives every 20 ms.
    public static func decode(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) throws(DecodingError) -> Int {
        guard text.count % 4 == 0 else { throw .badLength(text.count) }
        precondition(out.count >= text.count / 4 * 3)
        var written = 0
        var quad = 0
        while quad < text.count {
            var group: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let position = quad + offset
                let byte = text[position]
                var value: UInt8 = 0
                if byte == UInt8(ascii: "=") {
                    guard position >= text.count - 2, offset >= 2 else { throw .badPadding }
                    padding += 1
                } else {
                    guard padding == 0 else { throw .badPadding }
                    value = values[Int(byte)]
                    guard value != 0xFF else { throw .badCharacter(at: position) }
                }
                group = group << 6 | UInt32(value)
            }
            if padding == 2, group & 0xFFFF != 0 { throw .badPadding }
            if padding == 1, group & 0xFF != 0 { throw .badPadding }
            out[written] = UInt8(truncatingIfNeeded: group >> 16)
            if padding < 2 { out[written + 1] = UInt8(truncatingIfNeeded: group >> 8) }
            if padding < 1 { out[written + 2] = UInt8(truncatingIfNeeded: group) }
            written += 3 - padding
            quad += 4
        }
        return written
    }

    public static func decode(_ text: String) throws(DecodingError) -> [UInt8] {
        var out: [UInt8] = []
        try decode(Array(text.utf8), into: &out)
        return out
    }
}
