// SPDX-License-Identifier: MIT
// A server-side WebSocket connection, message by message, for the phone-side media protocols
// (FreeSWITCH's forks, Asterisk's chan_websocket): frames are joined into messages (a peer may
// fragment), compressed messages (RSV1, permessage-deflate) are inflated, and every limit is a
// typed failure the connection handler turns into a close code. NIO's frame aggregator is not
// used because it drops RSV1 on fragmented messages, which compression needs.
import AudioBridgeProtocols
import NIOCore
import NIOWebSocket

enum WebSocketMessage: Equatable {
    case text([UInt8])
    case binary([UInt8])
}

enum WebSocketMessageFailure: Error, Equatable {
    /// A message over the limit (close 1009).
    case tooLarge(Int)
    /// A continuation without a start, a new message inside another, RSV bits without an
    /// extension (close 1002).
    case badFraming
    /// A compressed message that does not inflate (close 1007).
    case badCompression
}

final class WebSocketMessageChannel {
    let channel: Channel
    let maximumMessageBytes: Int
    private let deflater: PerMessageDeflater?
    private let inflater: PerMessageInflater?
    private var partial: [UInt8] = []
    private var partialOpcode: WebSocketOpcode?
    private var partialCompressed = false
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
            self.inflater = inflater
        } else {
            deflater = nil
            inflater = nil
        }
    }

    /// Takes one data frame (text, binary or continuation); a whole message once it is complete.
    func receive(_ frame: WebSocketFrame) throws(WebSocketMessageFailure) -> WebSocketMessage? {
        guard !frame.rsv2, !frame.rsv3, !frame.rsv1 || inflater != nil else { throw .badFraming }
        switch frame.opcode {
        case .text, .binary:
            guard partialOpcode == nil else { throw .badFraming }
            partialOpcode = frame.opcode
            partialCompressed = frame.rsv1
            partial.removeAll(keepingCapacity: true)
        case .continuation:
            guard partialOpcode != nil, !frame.rsv1 else { throw .badFraming }
        default:
            return nil
        }
        var data = frame.unmaskedData
        guard partial.count + data.readableBytes <= maximumMessageBytes else { throw .tooLarge(partial.count + data.readableBytes) }
        partial += data.readBytes(length: data.readableBytes) ?? []
        guard frame.fin, let opcode = partialOpcode else { return nil }
        partialOpcode = nil
        var payload = partial
        if partialCompressed, let inflater {
            do throws(PerMessageDeflateError) { payload = try inflater.decompress(payload) } catch {
                if case .tooLarge = error { throw .tooLarge(maximumMessageBytes) }
                throw .badCompression
            }
        }
        return opcode == .text ? .text(payload) : .binary(payload)
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
