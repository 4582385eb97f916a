// SPDX-License-Identifier: MIT
// The AudioSocket encoder: messages to bytes. Each message's header and payload are produced
// together (Asterisk waits only ~5 ms for a payload after its header).

public enum AudioSocketEncoder {
    /// Appends `message` to `bytes`. Throws for a message that is not valid on the wire (odd or
    /// empty audio, a payload over 65,535 bytes, an unsupported rate, a non-DTMF digit).
    public static func encode(_ message: AudioSocketMessage, into bytes: inout [UInt8]) throws(AudioSocketError) {
        switch message {
        case .hangup:
            bytes += [0x00, 0x00, 0x00]
        case .uuid(let uuid):
            bytes += [0x01, 0x00, 0x10]
            for i in 0..<16 { bytes.append(uuid.bytes[i]) }
        case .dtmf(let digit):
            guard AudioSocketMessage.isDTMF(digit) else { throw .badDTMF(length: 1, digit: digit) }
            bytes += [0x03, 0x00, 0x01, digit]
        case .audio(let sampleRate, let payload):
            guard let kind = AudioSocketMessage.audioKind(forSampleRate: sampleRate) else { throw .unknownKind(0) }
            guard !payload.isEmpty else { throw .emptyAudio }
            guard payload.count % 2 == 0 else { throw .oddAudioLength(payload.count) }
            guard payload.count <= 65_535 else { throw .payloadTooLarge(kind: kind, length: payload.count) }
            bytes += [kind, UInt8(truncatingIfNeeded: payload.count >> 8), UInt8(truncatingIfNeeded: payload.count)]
            bytes += payload
        case .error(let code):
            if let code { bytes += [0xFF, 0x00, 0x01, code] } else { bytes += [0xFF, 0x00, 0x00] }
        }
    }

    public static func encode(_ message: AudioSocketMessage) throws(AudioSocketError) -> [UInt8] {
        var bytes: [UInt8] = []
        try encode(message, into: &bytes)
        return bytes
    }

    public static let headerBytes = 3

    /// Writes the three header bytes of an audio message at the start of `header`, for writers
    /// that put the payload in place right after it (no copy, no allocation).
    public static func writeAudioHeader(kind: UInt8, length: Int, into header: UnsafeMutableRawBufferPointer) {
        precondition(header.count >= headerBytes && (0...65_535).contains(length))
        header[0] = kind
        header[1] = UInt8(truncatingIfNeeded: length >> 8)
        header[2] = UInt8(truncatingIfNeeded: length)
    }

    /// The audio kind for `sampleRate` (0x10 for 8 kHz … 0x18 for 192 kHz), nil for another rate.
    public static func audioKind(sampleRate: Int) -> UInt8? { AudioSocketMessage.audioKind(forSampleRate: sampleRate) }
}
