// SPDX-License-Identifier: MIT
// libFuzzer target: permessage-deflate inflation (RFC 7692) with its 64 KiB message limit: a deflate bomb is refused, not inflated.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    guard let inflater = PerMessageInflater(maximumMessageBytes: 1 << 16) else { return 0 }
    if let message = try? inflater.decompress(bytes) {
        precondition(message.count <= 1 << 16, "permessage-deflate: a message over the limit came out")
    }
    return 0
}
