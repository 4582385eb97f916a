// SPDX-License-Identifier: MIT
// libFuzzer target: the SDP parser of SIP offers and answers; an offer we can answer gets an answer that parses back.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    guard let offer = try? SessionDescription(parsing: String(decoding: bytes, as: UTF8.self)) else { return 0 }
    let local = SDPAnswerer.Local(address: "127.0.0.1", isIPv6: false, rtpPort: 40000, sessionID: 1, sessionVersion: 1,
                                  srtpInlineKey: "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyAoc2V")
    guard let (_, answer) = try? SDPAnswerer.answer(offer, local: local, srtp: .optional) else { return 0 }
    precondition((try? SessionDescription(parsing: answer)) != nil, "SDP: our answer does not parse: \(answer)")
    return 0
}
