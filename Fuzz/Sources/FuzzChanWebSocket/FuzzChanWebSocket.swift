// SPDX-License-Identifier: MIT
// libFuzzer target: Asterisk chan_websocket's control messages, JSON and plain text.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    _ = try? ChanWebSocketCodec.decode(bytes)
    return 0
}
