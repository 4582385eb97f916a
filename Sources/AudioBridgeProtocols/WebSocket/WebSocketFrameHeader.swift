// SPDX-License-Identifier: MIT
// The header of a WebSocket frame a server sends (RFC 6455 §5.2: FIN, no RSV bits, the opcode,
// no mask, the payload length in 7, 7+16 or 7+64 bits). The media paths write it in front of an
// audio payload they already hold, so a 20 ms frame goes out without NIO's frame type (which
// costs an allocation per write) and without copying the payload.
public enum WebSocketFrameHeader {
    /// The longest header a server frame has.
    public static let maximumServerHeaderBytes = 10

    public static let textOpcode: UInt8 = 0x1
    public static let binaryOpcode: UInt8 = 0x2

    /// The header's length for a payload of `payloadLength` bytes.
    public static func serverHeaderBytes(payloadLength: Int) -> Int {
        payloadLength < 126 ? 2 : payloadLength <= 0xFFFF ? 4 : 10
    }

    /// Writes the header of a final, unmasked frame into `out` (at least
    /// `serverHeaderBytes(payloadLength:)`); returns its length.
    public static func writeServerHeader(opcode: UInt8, payloadLength: Int, into out: UnsafeMutableRawBufferPointer) -> Int {
        out[0] = 0x80 | (opcode & 0x0F)
        switch payloadLength {
        case ..<126:
            out[1] = UInt8(payloadLength)
            return 2
        case ...0xFFFF:
            out[1] = 126
            out[2] = UInt8(payloadLength >> 8)
            out[3] = UInt8(payloadLength & 0xFF)
            return 4
        default:
            out[1] = 127
            for i in 0..<8 { out[2 + i] = UInt8(truncatingIfNeeded: UInt64(payloadLength) >> (56 - 8 * UInt64(i))) }
            return 10
        }
    }
}
