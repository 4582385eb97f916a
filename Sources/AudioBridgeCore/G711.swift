// SPDX-License-Identifier: MIT
// G.711 μ-law (PCMU) and A-law (PCMA), bit-exact with ITU-T G.191's STL (`ulaw_compress`,
// `alaw_compress`, `*_expand`): negative samples are quantised by their one's complement, so
// −1 encodes like 0 (μ-law 0x7F, "−0"), and there is no zero trap. Tests/Vectors/g711 pins this
// down for all 65,536 inputs and all 256 codes. Asterisk's and spandsp's μ-law encoder differ
// from it on 127 negative step boundaries (../shared/protocols.md §7.4).
//
// The per-sample functions are the arithmetic definition. The buffer functions use tables built
// once from them: decoding and μ-law⇄A-law transcoding by code (256 entries); encoding by the
// sample's top bits, since μ-law only looks at sample >> 2 (16,384 entries) and A-law at
// sample >> 4 (4,096 entries) — for negatives too, because ~x >> n == ~(x >> n). The tables are
// built by `G711.warmUp()` (engine and session creation call it, off the media thread); until
// then the buffer functions compute each sample, so no call ever allocates (the first one would
// otherwise build the tables on the caller's thread: about 21 KiB). No locks, no traps.
import Synchronization

/// μ-law (G.711 PCMU).
public enum ULaw {
    /// The μ-law code of one linear sample.
    @inlinable
    public static func encode(_ sample: Int16) -> UInt8 {
        let x = Int32(sample)
        // 14-bit magnitude, one's complement for negatives, plus the μ-law bias (33 at 14 bits).
        let magnitude = min(((x < 0 ? ~x : x) >> 2) + 33, 0x1FFF)
        let segment = 1 + (32 - (magnitude >> 6).leadingZeroBitCount)  // 1...8
        let mantissa = (magnitude >> Int32(segment)) & 0x0F
        let code = ((8 - Int32(segment)) << 4) | (0x0F - mantissa)
        return UInt8(truncatingIfNeeded: x < 0 ? code : code | 0x80)
    }

    /// The linear value of one μ-law code (range ±32124).
    @inlinable
    public static func decode(_ code: UInt8) -> Int16 {
        let c = Int32(~code)
        let exponent = (c >> 4) & 0x07
        let mantissa = c & 0x0F
        let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
        return Int16(truncatingIfNeeded: c & 0x80 != 0 ? -magnitude : magnitude)
    }

    /// Encodes `min(input.count, output.count)` samples and returns that count.
    @discardableResult
    public static func encode(_ input: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        guard let tables = G711Tables.built else { return G711Tables.each(input, into: output, encode) }
        return tables.encode(tables.ulawEncode, droppingBits: 2, input, into: output)
    }

    /// Decodes `min(input.count, output.count)` codes and returns that count.
    @discardableResult
    public static func decode(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Int16>) -> Int {
        guard let tables = G711Tables.built else { return G711Tables.each(input, into: output, decode) }
        return tables.lookup(tables.ulawDecode, input, into: output)
    }

    /// Transcodes `min(input.count, output.count)` μ-law codes to A-law and returns that count.
    /// Equal to A-law-encoding the decoded value, code for code.
    @discardableResult
    public static func transcodeToALaw(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        guard let tables = G711Tables.built else { return G711Tables.each(input, into: output) { ALaw.encode(decode($0)) } }
        return tables.lookup(tables.ulawToALaw, input, into: output)
    }
}

/// A-law (G.711 PCMA).
public enum ALaw {
    /// The A-law code of one linear sample.
    @inlinable
    public static func encode(_ sample: Int16) -> UInt8 {
        let x = Int32(sample)
        // 12-bit magnitude, one's complement for negatives.
        var value = (x < 0 ? ~x : x) >> 4
        if value > 15 {
            let exponent = Int32(32 - value.leadingZeroBitCount) - 4  // 1...7
            value = (exponent << 4) | ((value >> (exponent - 1)) - 16)
        }
        if x >= 0 { value |= 0x80 }
        return UInt8(truncatingIfNeeded: value ^ 0x55)  // even-bit inversion
    }

    /// The linear value of one A-law code (range ±32256, no zero level).
    @inlinable
    public static func decode(_ code: UInt8) -> Int16 {
        let c = Int32(code ^ 0x55)
        let mantissa = (c & 0x0F) << 4
        let segment = (c & 0x70) >> 4
        let magnitude = segment == 0 ? mantissa + 8 : (mantissa + 0x108) << (segment - 1)
        return Int16(truncatingIfNeeded: c & 0x80 != 0 ? magnitude : -magnitude)
    }

    /// Encodes `min(input.count, output.count)` samples and returns that count.
    @discardableResult
    public static func encode(_ input: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        guard let tables = G711Tables.built else { return G711Tables.each(input, into: output, encode) }
        return tables.encode(tables.alawEncode, droppingBits: 4, input, into: output)
    }

    /// Decodes `min(input.count, output.count)` codes and returns that count.
    @discardableResult
    public static func decode(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Int16>) -> Int {
        guard let tables = G711Tables.built else { return G711Tables.each(input, into: output, decode) }
        return tables.lookup(tables.alawDecode, input, into: output)
    }

    /// Transcodes `min(input.count, output.count)` A-law codes to μ-law and returns that count.
    /// Equal to μ-law-encoding the decoded value, code for code.
    @discardableResult
    public static func transcodeToULaw(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        guard let tables = G711Tables.built else { return G711Tables.each(input, into: output) { ULaw.encode(decode($0)) } }
        return tables.lookup(tables.alawToULaw, input, into: output)
    }
}

public enum G711 {
    /// Builds the lookup tables (once; off the media thread: engine and session creation call
    /// it). Until then the buffer functions compute each sample instead.
    public static func warmUp() {
        _ = G711Tables.shared
        G711Tables.isBuilt.store(true, ordering: .releasing)
    }
}

/// The 256-entry tables, built from the per-sample functions above and never mutated.
// SAFETY: the tables are written once in `init` and only read afterwards.
final class G711Tables: @unchecked Sendable {
    static let shared = G711Tables()
    /// Set by `G711.warmUp()` once the tables exist; before, the buffer functions compute each
    /// sample rather than build the tables on the caller's thread. A plain flag, so a call before
    /// warm-up touches no class metadata either (its one-time set-up allocates).
    static let isBuilt = Atomic<Bool>(false)
    static var built: G711Tables? { isBuilt.load(ordering: .acquiring) ? shared : nil }

    /// The per-sample function over a buffer: what the buffer functions do before warm-up.
    @inline(__always)
    static func each<In, Out>(_ input: UnsafeBufferPointer<In>, into output: UnsafeMutableBufferPointer<Out>, _ convert: (In) -> Out) -> Int {
        let count = min(input.count, output.count)
        for i in 0..<count { output[i] = convert(input[i]) }
        return count
    }

    let ulawDecode: UnsafeBufferPointer<Int16>
    let alawDecode: UnsafeBufferPointer<Int16>
    let ulawToALaw: UnsafeBufferPointer<UInt8>
    let alawToULaw: UnsafeBufferPointer<UInt8>
    /// Indexed by (sample >> 2) + 8192.
    let ulawEncode: UnsafeBufferPointer<UInt8>
    /// Indexed by (sample >> 4) + 2048.
    let alawEncode: UnsafeBufferPointer<UInt8>

    // Process-lifetime singleton (about 21 KiB): the tables are never freed.
    private init() {
        func table<T>(_ count: Int, _ entry: (Int) -> T) -> UnsafeBufferPointer<T> {
            let storage = UnsafeMutableBufferPointer<T>.allocate(capacity: count)
            for index in 0..<count { storage.initializeElement(at: index, to: entry(index)) }
            return UnsafeBufferPointer(storage)
        }
        ulawDecode = table(256) { ULaw.decode(UInt8($0)) }
        alawDecode = table(256) { ALaw.decode(UInt8($0)) }
        ulawToALaw = table(256) { ALaw.encode(ULaw.decode(UInt8($0))) }
        alawToULaw = table(256) { ULaw.encode(ALaw.decode(UInt8($0))) }
        ulawEncode = table(1 << 14) { ULaw.encode(Int16(($0 - 8192) << 2)) }
        alawEncode = table(1 << 12) { ALaw.encode(Int16(($0 - 2048) << 4)) }
    }

    @inline(__always)
    func encode(_ table: UnsafeBufferPointer<UInt8>, droppingBits shift: Int16, _ input: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let count = min(input.count, output.count)
        let offset = table.count / 2
        for i in 0..<count { output[i] = table[Int(input[i] >> shift) + offset] }
        return count
    }

    @inline(__always)
    func lookup<T>(_ table: UnsafeBufferPointer<T>, _ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<T>) -> Int {
        let count = min(input.count, output.count)
        for i in 0..<count { output[i] = table[Int(input[i])] }
        return count
    }
}
