// SPDX-License-Identifier: MIT
// A server-side WebSocket connection, message by message, for the phone-side media protocols
// (FreeSWITCH's forks, Asterisk's chan_websocket): NIO's frames go to the pure
// WebSocketMessageAssembler (fragments joined, RSV1 inflated, limits as typed failures the
// connection handler turns into close codes), and messages go out compressed when negotiated.
// NIO's frame aggregator is not used because it drops RSV1 on fragmented messages, which
// compression needs.
import AudioBridgeProtocols
import NIOCore
import NIOWebSocket

final class WebSocketMessageChannel {
    let channel: Channel
    let maximumMessageBytes: Int
    private let deflater: PerMessageDeflater?
    private var assembler: WebSocketMessageAssembler
    /// Reused for uncompressed audio messages, with room in front for the frame header.
    private var audioBuffer: ByteBuffer
    private let mediaWriter: WebSocketMediaWriter?

    var isCompressed: Bool { deflater != nil }

    /// `compression`: the negotiated permessage-deflate, or nil for none.
    init(channel: Channel, compression: PerMessageDeflateParameters?, maximumMessageBytes: Int) {
        self.channel = channel
        self.maximumMessageBytes = maximumMessageBytes
        audioBuffer = channel.allocator.buffer(capacity: 2048)
        mediaWriter = WebSocketMediaWriter(channel: channel)
        if let compression, let deflater = PerMessageDeflater(windowBits: compression.serverWindowBits),
           let inflater = PerMessageInflater(maximumMessageBytes: maximumMessageBytes) {
            self.deflater = deflater
            assembler = WebSocketMessageAssembler(maximumMessageBytes: maximumMessageBytes, inflater: inflater)
        } else {
            deflater = nil
            assembler = WebSocketMessageAssembler(maximumMessageBytes: maximumMessageBytes, inflater: nil)
        }
    }

    /// Takes one data frame (text, binary or continuation); a whole message once it is complete.
    func receive(_ frame: WebSocketFrame) throws(WebSocketMessageFailure) -> WebSocketMessage? {
        let opcode: WebSocketMessageAssembler.Opcode
        switch frame.opcode {
        case .text: opcode = .text
        case .binary: opcode = .binary
        case .continuation: opcode = .continuation
        default: return nil
        }
        return try assembler.receive(opcode: opcode, fin: frame.fin, rsv1: frame.rsv1, rsv2: frame.rsv2, rsv3: frame.rsv3,
                                     payload: frame.unmaskedData.readableBytesView)
    }

    func send(text: [UInt8]) { send(text, opcode: .text) }
    func send(binary: [UInt8]) { send(binary, opcode: .binary) }

    /// An audio message, every 20 ms: uncompressed it reuses one buffer and skips NIO's frame
    /// type (no allocation once the socket has written the previous one); compressed it goes
    /// through the deflater, which allocates its output.
    func send(binary bytes: UnsafeRawBufferPointer) {
        guard deflater == nil, let mediaWriter else { return send(Array(bytes), opcode: .binary) }
        WebSocketMediaWriter.prepare(&audioBuffer)
        audioBuffer.writeBytes(bytes)
        mediaWriter.write(&audioBuffer, opcode: WebSocketFrameHeader.binaryOpcode)
    }

    private func send(_ bytes: [UInt8], opcode: WebSocketOpcode) {
        var payload = bytes
        var compressed = false
        if let deflater, let smaller = try? deflater.compress(bytes) {
            payload = smaller
            compressed = true
        }
        var buffer = channel.allocator.buffer(capacity: payload.count)
        buffer.writeBytes(payload)
        channel.writeAndFlush(WebSocketFrame(fin: true, rsv1: compressed, opcode: opcode, data: buffer), promise: nil)
    }

    /// A close frame with `code`, then the socket.
    func close(code: WebSocketErrorCode) {
        var data = channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        let channel = self.channel
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)).whenComplete { _ in channel.close(promise: nil) }
    }

    func pong(_ frame: WebSocketFrame) {
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData), promise: nil)
    }
}
