// SPDX-License-Identifier: MIT
// Sends a WebSocket connection's 20 ms audio messages without allocating. NIO's frame encoder
// takes a `WebSocketFrame`, which is too large to travel inside NIOAny without a heap box, so
// every write through it allocates. These messages skip it: their header is written in front of
// the payload (room was left for it) and the bytes go to the socket from the encoder's own
// place in the pipeline, as the encoder itself would send them. Control messages (marks,
// clears) still go through the encoder, in order with these on the same loop.
import AudioBridgeProtocols
import NIOCore
import NIOWebSocket

struct WebSocketMediaWriter {
    /// Bytes to leave free in front of a payload.
    static let headerRoom = WebSocketFrameHeader.maximumServerHeaderBytes
    private let encoder: ChannelHandlerContext

    /// The writer for an upgraded server connection; nil if it has no frame encoder.
    init?(channel: Channel) {
        guard let context = try? channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self) else { return nil }
        encoder = context
    }

    /// An empty buffer with room for a header in front, for `write`.
    static func prepare(_ buffer: inout ByteBuffer) {
        buffer.clear()
        buffer.moveWriterIndex(forwardBy: headerRoom)
        buffer.moveReaderIndex(forwardBy: headerRoom)
    }

    /// Sends the readable bytes of `buffer` (made with `prepare`) as one final frame.
    func write(_ buffer: inout ByteBuffer, opcode: UInt8) {
        let length = buffer.readableBytes
        let headerBytes = WebSocketFrameHeader.serverHeaderBytes(payloadLength: length)
        buffer.moveReaderIndex(to: buffer.readerIndex - headerBytes)
        buffer.withUnsafeMutableReadableBytes { bytes in
            _ = WebSocketFrameHeader.writeServerHeader(opcode: opcode, payloadLength: length, into: bytes)
        }
        encoder.writeAndFlush(NIOAny(buffer), promise: nil)
    }
}
