// SPDX-License-Identifier: MIT
// libFuzzer target: the Base64 decoder (Twilio's and the agents' audio); what it decodes encodes and decodes again to the same bytes.
import AudioBridgeCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    var decoded: [UInt8] = []
    guard (try? Base64.decode(bytes, into: &decoded)) != nil else { return 0 }
    var encoded: [UInt8] = []
    Base64.encode(decoded, into: &encoded)
    var again: [UInt8] = []
    let ok = (try? Base64.decode(encoded, into: &again)) != nil
    precondition(ok && again == decoded, "Base64: decode → encode → decode changed the bytes")
    return 0
}
