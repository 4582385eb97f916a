// SPDX-License-Identifier: MIT
// libFuzzer target: the AudioSocket stream decoder (Asterisk's TCP framing), fed in two pieces split where the first byte says; every message decoded is encoded and decoded again to itself.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    var decoder = AudioSocketDecoder(maximumPayload: 4096)
    var messages: [AudioSocketMessage] = []
    for piece in [bytes[..<split], bytes[split...]] {
        decoder.append(piece)
        while let message = try? decoder.next() { messages.append(message) }
    }
    for message in messages {
        guard let encoded = try? AudioSocketEncoder.encode(message) else { continue }
        var again = AudioSocketDecoder(maximumPayload: 1 << 20)
        again.append(encoded)
        let decoded = try? again.next()
        precondition(decoded == message, "AudioSocket: decode → encode → decode changed \(message)")
    }
    return 0
}
