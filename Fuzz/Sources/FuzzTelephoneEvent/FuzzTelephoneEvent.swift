// SPDX-License-Identifier: MIT
// libFuzzer target: the RFC 4733 telephone-event payload parser; an event parsed is written and parsed again to itself.
import AudioBridgeCore
import AudioBridgeRTP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    guard let event = bytes.withUnsafeBytes({ TelephoneEvent.parse($0) }) else { return 0 }
    var out = [UInt8](repeating: 0, count: 16)
    let length = out.withUnsafeMutableBytes { event.write(to: $0) }
    let again = out.prefix(length).withUnsafeBytes { TelephoneEvent.parse(UnsafeRawBufferPointer(rebasing: $0[...])) }
    precondition(again == event, "RFC 4733: parse → write → parse changed the event")
    return 0
}
