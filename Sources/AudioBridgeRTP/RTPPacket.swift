// SPDX-License-Identifier: MIT
// The RTP packet (RFC 3550 §5.1): bytes in, header fields and the payload's place out. Parsing
// never copies and never allocates (it runs for every packet on the media thread): it returns
// where the payload lies inside the caller's bytes. CSRCs and a header extension are checked
// against the packet's length and skipped; padding is removed. Writing produces the 12-byte fixed
// header we send (no CSRCs, no extension: we are an end system, not a mixer).
//
// The per-packet calls return a Result instead of throwing: a thrown error runs the runtime's
// will-throw hook, which tools install (Swift Testing captures a backtrace there, which
// allocates), and garbage on a UDP port must cost the media thread nothing.

public enum RTPError: Error, Equatable, Sendable {
    /// Fewer bytes than the fixed header, or than the CSRC list and extension it announces.
    case tooShort(Int)
    /// Version is not 2 (an RTCP packet, STUN or garbage on the port).
    case badVersion(UInt8)
    /// The extension header's length runs past the packet.
    case extensionOverrun
    /// The padding count is 0 or larger than what follows the header.
    case badPadding(Int)
}

public struct RTPHeader: Equatable, Sendable {
    public var marker: Bool
    public var payloadType: UInt8
    public var sequenceNumber: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32

    public static let fixedLength = 12

    public init(marker: Bool = false, payloadType: UInt8, sequenceNumber: UInt16, timestamp: UInt32, ssrc: UInt32) {
        self.marker = marker
        self.payloadType = payloadType & 0x7F
        self.sequenceNumber = sequenceNumber
        self.timestamp = timestamp
        self.ssrc = ssrc
    }

    /// Writes the 12-byte fixed header (V=2, no padding, no extension, no CSRCs). Returns 12, or
    /// 0 if `out` is shorter. Realtime-safe.
    @discardableResult
    public func write(to out: UnsafeMutableRawBufferPointer) -> Int {
        guard out.count >= Self.fixedLength else { return 0 }
        out[0] = 0x80
        out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7F)
        storeBigEndian(sequenceNumber, at: 2, in: out)
        storeBigEndian(timestamp, at: 4, in: out)
        storeBigEndian(ssrc, at: 8, in: out)
        return Self.fixedLength
    }
}

/// A parsed packet: the header and where the payload sits in the bytes parsed.
public struct RTPPacketView: Equatable, Sendable {
    public var header: RTPHeader
    public var csrcCount: Int
    /// The extension's profile-defined 16 bits, nil when X is clear.
    public var extensionProfile: UInt16?
    /// Bytes of extension data (after its 4-byte header).
    public var extensionLength: Int
    /// Where the payload begins (after the CSRCs and the extension).
    public var payloadOffset: Int
    /// Payload bytes, padding excluded.
    public var payloadCount: Int
    public var paddingCount: Int

    public var payloadRange: Range<Int> { payloadOffset..<(payloadOffset + payloadCount) }

    /// Parses one packet. Realtime-safe: no copy, no allocation, no throw.
    public static func read(_ bytes: UnsafeRawBufferPointer) -> Result<RTPPacketView, RTPError> {
        let length = bytes.count
        guard length >= RTPHeader.fixedLength else { return .failure(.tooShort(length)) }
        let first = bytes[0]
        guard first >> 6 == 2 else { return .failure(.badVersion(first >> 6)) }
        let hasPadding = first & 0x20 != 0
        let hasExtension = first & 0x10 != 0
        let csrcCount = Int(first & 0x0F)
        let header = RTPHeader(
            marker: bytes[1] & 0x80 != 0, payloadType: bytes[1] & 0x7F,
            sequenceNumber: loadBigEndian(UInt16.self, at: 2, in: bytes),
            timestamp: loadBigEndian(UInt32.self, at: 4, in: bytes),
            ssrc: loadBigEndian(UInt32.self, at: 8, in: bytes))
        var offset = RTPHeader.fixedLength + 4 * csrcCount
        guard length >= offset else { return .failure(.tooShort(length)) }
        var extensionProfile: UInt16?
        var extensionLength = 0
        if hasExtension {
            guard length >= offset + 4 else { return .failure(.tooShort(length)) }
            extensionProfile = loadBigEndian(UInt16.self, at: offset, in: bytes)
            extensionLength = 4 * Int(loadBigEndian(UInt16.self, at: offset + 2, in: bytes))
            offset += 4
            guard length >= offset + extensionLength else { return .failure(.extensionOverrun) }
            offset += extensionLength
        }
        var paddingCount = 0
        if hasPadding {
            paddingCount = Int(bytes[length - 1])
            guard paddingCount > 0, paddingCount <= length - offset else { return .failure(.badPadding(paddingCount)) }
        }
        return .success(RTPPacketView(
            header: header, csrcCount: csrcCount, extensionProfile: extensionProfile,
            extensionLength: extensionLength, payloadOffset: offset,
            payloadCount: length - offset - paddingCount, paddingCount: paddingCount))
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(RTPError) -> RTPPacketView { try read(bytes).get() }

    /// Bytes before the payload (fixed header, CSRCs, extension), without looking at padding:
    /// what SRTP leaves in the clear. Realtime-safe.
    public static func headerLength(_ bytes: UnsafeRawBufferPointer) -> Result<Int, RTPError> {
        let length = bytes.count
        guard length >= RTPHeader.fixedLength else { return .failure(.tooShort(length)) }
        guard bytes[0] >> 6 == 2 else { return .failure(.badVersion(bytes[0] >> 6)) }
        var offset = RTPHeader.fixedLength + 4 * Int(bytes[0] & 0x0F)
        guard length >= offset else { return .failure(.tooShort(length)) }
        if bytes[0] & 0x10 != 0 {
            guard length >= offset + 4 else { return .failure(.tooShort(length)) }
            offset += 4 + 4 * Int(loadBigEndian(UInt16.self, at: offset + 2, in: bytes))
            guard length >= offset else { return .failure(.extensionOverrun) }
        }
        return .success(offset)
    }

    public static func parse(_ bytes: [UInt8]) throws(RTPError) -> RTPPacketView {
        try bytes.withUnsafeBytes { read($0) }.get()
    }

    /// The `index`-th contributing source, read from the bytes that were parsed.
    public func csrc(_ index: Int, in bytes: UnsafeRawBufferPointer) -> UInt32 {
        precondition(index >= 0 && index < csrcCount, "CSRC index out of range")
        return loadBigEndian(UInt32.self, at: RTPHeader.fixedLength + 4 * index, in: bytes)
    }
}

/// A whole packet as values, for building packets that carry everything RTP allows (tests, and
/// peers that are not on the media path). Allocates.
public struct RTPPacket: Equatable, Sendable {
    public var header: RTPHeader
    public var csrcs: [UInt32]
    /// Profile-defined 16 bits and data (a multiple of 4 bytes), or nil.
    public var headerExtension: (profile: UInt16, data: [UInt8])?
    public var payload: [UInt8]
    /// Padding bytes to append (0 for none; the last one carries the count).
    public var paddingCount: Int

    public init(header: RTPHeader, csrcs: [UInt32] = [], headerExtension: (profile: UInt16, data: [UInt8])? = nil, payload: [UInt8], paddingCount: Int = 0) {
        precondition(csrcs.count <= 15, "at most 15 CSRCs")
        precondition(headerExtension.map { $0.data.count % 4 == 0 && $0.data.count <= 4 * 65_535 } ?? true, "extension data is whole 32-bit words")
        precondition(paddingCount >= 0 && paddingCount <= 255, "padding is 0–255 bytes")
        self.header = header
        self.csrcs = csrcs
        self.headerExtension = headerExtension
        self.payload = payload
        self.paddingCount = paddingCount
    }

    public static func == (a: RTPPacket, b: RTPPacket) -> Bool {
        a.header == b.header && a.csrcs == b.csrcs && a.payload == b.payload && a.paddingCount == b.paddingCount
            && a.headerExtension?.profile == b.headerExtension?.profile && a.headerExtension?.data == b.headerExtension?.data
    }

    public func serialized() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: RTPHeader.fixedLength)
        bytes.withUnsafeMutableBytes { _ = header.write(to: $0) }
        bytes[0] |= (paddingCount > 0 ? 0x20 : 0) | (headerExtension != nil ? 0x10 : 0) | UInt8(csrcs.count)
        for csrc in csrcs { appendBigEndian(csrc, to: &bytes) }
        if let headerExtension {
            appendBigEndian(headerExtension.profile, to: &bytes)
            appendBigEndian(UInt16(headerExtension.data.count / 4), to: &bytes)
            bytes += headerExtension.data
        }
        bytes += payload
        if paddingCount > 0 {
            bytes += [UInt8](repeating: 0, count: paddingCount - 1)
            bytes.append(UInt8(paddingCount))
        }
        return bytes
    }

    public init(parsing bytes: [UInt8]) throws(RTPError) {
        let view = try RTPPacketView.parse(bytes)
        let csrcs = bytes.withUnsafeBytes { raw in (0..<view.csrcCount).map { view.csrc($0, in: raw) } }
        let extensionData = Array(bytes[(view.payloadOffset - view.extensionLength)..<view.payloadOffset])
        self.init(
            header: view.header, csrcs: csrcs,
            headerExtension: view.extensionProfile.map { ($0, extensionData) },
            payload: Array(bytes[view.payloadRange]), paddingCount: view.paddingCount)
    }
}

@inline(__always)
func loadBigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int, in bytes: UnsafeRawBufferPointer) -> T {
    var value: T = 0
    for i in 0..<MemoryLayout<T>.size { value = value << 8 | T(bytes[offset + i]) }
    return value
}

@inline(__always)
func storeBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: UnsafeMutableRawBufferPointer) {
    let size = MemoryLayout<T>.size
    for i in 0..<size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * (size - 1 - i))) }
}

func appendBigEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    let size = MemoryLayout<T>.size
    for i in 0..<size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * (size - 1 - i)))) }
}
