// SPDX-License-Identifier: MIT
// libFuzzer target: Deepgram's Voice Agent server messages.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    _ = try? DeepgramAgentCodec.decode(bytes)
    return 0
}
