// SPDX-License-Identifier: MIT
// The AudioSocket decoder: bytes in, messages out, no socket. Input may be split at any byte and
// several messages may arrive in one piece (TCP); `next()` returns nil until a whole message is
// there. Everything malformed is a typed error, and the buffered input never exceeds one
// message's header plus the maximum payload beyond what the caller appended.

public enum AudioSocketError: Error, Equatable, Sendable {
    case unknownKind(UInt8)
    case payloadTooLarge(kind: UInt8, length: Int)
    case emptyAudio
    case oddAudioLength(Int)
    case badUUIDLength(Int)
    case badDTMF(length: Int, digit: UInt8?)
    case badHangupLength(Int)
    case badErrorLength(Int)
}

public struct AudioSocketDecoder: Sendable {
    /// The largest payload accepted. 20 ms at 192 kHz is 7,680 bytes; the default leaves room
    /// for a peer that sends larger frames (Asterisk accepts 1000-byte frames and more).
    public let maximumPayload: Int
    private var buffer: [UInt8] = []
    private var readIndex = 0

    public init(maximumPayload: Int = 16_384) {
        self.maximumPayload = max(16, min(maximumPayload, 65_535))
    }

    /// Bytes received and not yet decoded.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        dropConsumedIfAll()
        buffer.append(contentsOf: bytes)
    }

    /// The same from contiguous memory (a socket's buffer): one copy, no per-byte generic calls
    /// from another module.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        dropConsumedIfAll()
        buffer.append(contentsOf: bytes)
    }

    private mutating func dropConsumedIfAll() {
        if readIndex > 0, readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        }
    }

    /// The next whole message, nil if more bytes are needed. After an error the decoder is
    /// unusable (the stream has lost its framing): close the connection.
    public mutating func next() throws(AudioSocketError) -> AudioSocketMessage? {
        guard bufferedByteCount >= 3 else { return nil }
        let kind = buffer[readIndex]
        let length = Int(buffer[readIndex + 1]) << 8 | Int(buffer[readIndex + 2])
        // Header checks come first, so a bad header fails at once instead of waiting for a payload.
        let sampleRate = try checkHeader(kind: kind, length: length)
        guard bufferedByteCount >= 3 + length else { return nil }
        compactIfWorthIt()
        let payload = buffer[(readIndex + 3)..<(readIndex + 3 + length)]
        readIndex += 3 + length
        switch kind {
        case 0x00: return .hangup
        case 0x01: return .uuid(AudioSocketUUID(payload)!)
        case 0x03:
            guard AudioSocketMessage.isDTMF(payload.first!) else { throw .badDTMF(length: 1, digit: payload.first) }
            return .dtmf(payload.first!)
        case 0xFF: return .error(code: payload.first)
        default: return .audio(sampleRate: sampleRate!, payload: payload)
        }
    }

    /// A whole, valid audio message at the start of `bytes`, read in place: a reader with
    /// nothing buffered here can take a frame straight from its socket buffer, without copying
    /// it in (the usual case, one frame per read). Nil for anything else — another kind, a partial
    /// or a malformed message — which goes through `append` and `next`, which decode or reject it.
    public func audioMessage(at bytes: UnsafeRawBufferPointer) -> (sampleRate: Int, payload: UnsafeRawBufferPointer)? {
        guard bytes.count >= 3 else { return nil }
        let length = Int(bytes[1]) << 8 | Int(bytes[2])
        guard let sampleRate = try? checkHeader(kind: bytes[0], length: length), bytes.count >= 3 + length else { return nil }
        return (sampleRate, UnsafeRawBufferPointer(rebasing: bytes[3..<(3 + length)]))
    }

    /// Whether a header is valid for its kind; an audio kind's sample rate (nil for the others).
    private func checkHeader(kind: UInt8, length: Int) throws(AudioSocketError) -> Int? {
        switch kind {
        case 0x00: guard length == 0 else { throw .badHangupLength(length) }
        case 0x01: guard length == 16 else { throw .badUUIDLength(length) }
        case 0x03: guard length == 1 else { throw .badDTMF(length: length, digit: nil) }
        case 0xFF: guard length <= 1 else { throw .badErrorLength(length) }
        default:
            guard let sampleRate = AudioSocketMessage.sampleRate(forKind: kind) else { throw .unknownKind(kind) }
            guard length <= maximumPayload else { throw .payloadTooLarge(kind: kind, length: length) }
            guard length > 0 else { throw .emptyAudio }
            guard length % 2 == 0 else { throw .oddAudioLength(length) }
            return sampleRate
        }
        return nil
    }

    /// Drops consumed bytes once they are most of the buffer, so memory stays bounded. Runs
    /// before a payload slice is taken, so it never copies storage a slice still shares.
    private mutating func compactIfWorthIt() {
        guard readIndex > 4096, readIndex * 2 > buffer.count else { return }
        buffer.removeFirst(readIndex)
        readIndex = 0
    }
}
