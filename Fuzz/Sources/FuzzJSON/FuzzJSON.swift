// SPDX-License-Identifier: MIT
// libFuzzer target: the JSON parser every agent protocol reads with; a value parsed is written and parsed again to itself.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    guard let value = try? JSONParser.parse(bytes) else { return 0 }
    var text: [UInt8] = []
    value.write(into: &text)
    let again = try? JSONParser.parse(text)
    precondition(again == value, "JSON: parse → write → parse changed the value")
    return 0
}
