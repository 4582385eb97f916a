// SPDX-License-Identifier: MIT
// libFuzzer target: the OpenAI Realtime server events.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    _ = try? RealtimeCodec.decode(bytes)
    return 0
}
