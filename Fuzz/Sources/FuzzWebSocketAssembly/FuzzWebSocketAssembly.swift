// SPDX-License-Identifier: MIT
// libFuzzer target: WebSocket message assembly (fragments, RSV bits, permessage-deflate, the
// message limit). The input is a list of frames, each a flags byte (FIN 0x80, RSV1 0x40, RSV2
// 0x20, RSV3 0x10; opcode text, binary or continuation from the low bits), a length byte and the
// payload; compression is negotiated when the first byte is odd. No message over the limit comes
// out.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    let limit = 4096
    let compressed = bytes.first.map { $0 & 1 == 1 } ?? false
    var assembler = WebSocketMessageAssembler(maximumMessageBytes: limit, inflater: compressed ? PerMessageInflater(maximumMessageBytes: limit) : nil)
    let opcodes: [WebSocketMessageAssembler.Opcode] = [.text, .binary, .continuation]
    var index = 1
    while index + 2 <= bytes.count {
        let flags = bytes[index], length = Int(bytes[index + 1])
        let payload = bytes[(index + 2)..<min(bytes.count, index + 2 + length)]
        index += 2 + length
        do {
            if let message = try assembler.receive(opcode: opcodes[Int(flags & 0x0F) % 3], fin: flags & 0x80 != 0, rsv1: flags & 0x40 != 0,
                                                   rsv2: flags & 0x20 != 0, rsv3: flags & 0x10 != 0, payload: payload) {
                switch message {
                case .text(let body), .binary(let body): precondition(body.count <= limit, "WebSocket: a message over the limit came out")
                }
            }
        } catch {
            // A refused frame ends the connection in the server: start afresh, as a new one would.
            assembler = WebSocketMessageAssembler(maximumMessageBytes: limit, inflater: compressed ? PerMessageInflater(maximumMessageBytes: limit) : nil)
        }
    }
    return 0
}
