// SPDX-License-Identifier: MIT
// libFuzzer target: the Authorization header of a SIP caller's digest (RFC 2617/8760), as the authenticator reads it.
import AudioBridgeCore
import AudioBridgeProtocols

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    let authenticator = SIPDigestAuthenticator(realm: "audiobridge", users: ["alice": "secret"], secret: [UInt8](repeating: 7, count: 32))
    _ = authenticator.verify(authorization: String(decoding: bytes, as: UTF8.self), method: "INVITE", now: 1_000_000)
    return 0
}
