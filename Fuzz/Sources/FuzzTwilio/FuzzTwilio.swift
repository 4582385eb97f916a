// SPDX-License-Identifier: MIT
// libFuzzer target: Twilio Media Streams' inbound messages (connected, start, media, dtmf, mark, stop).
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    _ = try? TwilioMediaStreamCodec.decode(bytes)
    return 0
}
