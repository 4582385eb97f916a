// SPDX-License-Identifier: MIT
// libFuzzer target: the raw-PCM agent protocol's JSON control messages; a message decoded is encoded and decoded again to itself.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    guard let message = try? PCMStreamCodec.decode(bytes) else { return 0 }
    let again = try? PCMStreamCodec.decode(PCMStreamCodec.encode(message))
    precondition(again == message, "PCM stream control: decode → encode → decode changed \(message)")
    return 0
}
