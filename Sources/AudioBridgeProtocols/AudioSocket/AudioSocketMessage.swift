// SPDX-License-Identifier: MIT
// Asterisk AudioSocket messages (../shared/protocols.md §1): a kind byte, a big-endian 16-bit
// payload length, the payload. Audio payloads are PCM16 little-endian mono; the kind gives the
// sample rate (0x10 = 8 kHz … 0x18 = 192 kHz, upstream Asterisk's table).

/// A 16-byte call identifier, as Asterisk sends it first on every connection.
public struct AudioSocketUUID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: InlineArray<16, UInt8>

    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var value = InlineArray<16, UInt8>(repeating: 0)
        for (i, byte) in bytes.enumerated() { value[i] = byte }
        self.bytes = value
    }

    /// Parses the canonical 8-4-4-4-12 hex form.
    public init?(string: String) {
        let hex = string.filter { $0 != "-" }
        guard hex.count == 32 else { return nil }
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        self.init(out)
    }

    public var description: String {
        var text = ""
        for i in 0..<16 {
            if [4, 6, 8, 10].contains(i) { text += "-" }
            let byte = bytes[i]
            text += String(byte >> 4, radix: 16) + String(byte & 0x0F, radix: 16)
        }
        return text
    }

    /// A random (version 4) UUID, for callers that make up call ids (the client, load tests).
    public static func random() -> AudioSocketUUID {
        var bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max) }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        return AudioSocketUUID(bytes)!
    }

    public static func == (a: Self, b: Self) -> Bool { (0..<16).allSatisfy { a.bytes[$0] == b.bytes[$0] } }
    public func hash(into hasher: inout Hasher) { for i in 0..<16 { hasher.combine(bytes[i]) } }
}

public enum AudioSocketMessage: Equatable, Sendable {
    /// 0x00: end the call (either side; Asterisk itself just closes the socket).
    case hangup
    /// 0x01: the call's UUID; Asterisk's first message.
    case uuid(AudioSocketUUID)
    /// 0x03: one DTMF digit as ASCII ('0'–'9', '*', '#', 'A'–'D').
    case dtmf(UInt8)
    /// 0x10–0x18: PCM16 little-endian mono at `sampleRate`; an even number of bytes, at least 2.
    /// Decoded payloads share the decoder's storage (no copy per frame); drop them before the
    /// next `append`, or the decoder's buffer is copied.
    case audio(sampleRate: Int, payload: ArraySlice<UInt8>)
    /// 0xFF: an error from the peer, with its optional code byte.
    case error(code: UInt8?)

    /// Audio kinds and their sample rates, as upstream Asterisk defines them.
    public static let audioKinds: [(kind: UInt8, sampleRate: Int)] = [
        (0x10, 8000), (0x11, 12000), (0x12, 16000), (0x13, 24000), (0x14, 32000),
        (0x15, 44100), (0x16, 48000), (0x17, 96000), (0x18, 192000),
    ]

    static func audioKind(forSampleRate rate: Int) -> UInt8? { audioKinds.first { $0.sampleRate == rate }?.kind }
    static func sampleRate(forKind kind: UInt8) -> Int? { audioKinds.first { $0.kind == kind }?.sampleRate }

    static func isDTMF(_ digit: UInt8) -> Bool {
        (digit >= 0x30 && digit <= 0x39) || digit == 0x2A || digit == 0x23 || (digit >= 0x41 && digit <= 0x44)
    }
}
