// SPDX-License-Identifier: MIT
// libFuzzer target: SRTP unprotect (RFC 3711) with a fixed key, both suites: anything that is not a packet we protected is refused, never read or written out of bounds.
import AudioBridgeCore
import AudioBridgeRTP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = count == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: count))
    let key = SRTPMasterKey(keyAndSalt: (0..<30).map { UInt8($0 &* 7 &+ 1) })!
    for profile in [SRTPProfile.aes128CmHmacSha1_80, .aes128CmHmacSha1_32] {
        guard let context = SRTPContext(profile: profile, masterKey: key, maximumPacketLength: 1500) else { continue }
        var buffer = [UInt8](repeating: 0, count: max(bytes.count, 1))
        buffer.replaceSubrange(0..<bytes.count, with: bytes)
        _ = buffer.withUnsafeMutableBytes { context.unprotect($0, length: bytes.count) }
    }
    return 0
}
