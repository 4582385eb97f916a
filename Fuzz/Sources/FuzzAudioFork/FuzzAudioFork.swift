// SPDX-License-Identifier: MIT
// libFuzzer target: the FreeSWITCH fork/stream modules' control messages and their call metadata.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    _ = try? AudioForkCodec.decode(bytes)
    _ = AudioForkMetadata.parse(bytes)
    return 0
}
