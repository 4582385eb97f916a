// SPDX-License-Identifier: MIT
// libFuzzer target: the form parser of Twilio's voice webhook (application/x-www-form-urlencoded).
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    _ = TwilioWebhook.formParameters(bytes)
    return 0
}
