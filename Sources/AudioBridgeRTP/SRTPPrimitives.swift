// SPDX-License-Identifier: MIT
// The two primitives SRTP's default profiles need, over the system's libcrypto: AES-128 in
// counter mode (RFC 3711 §4.1.1: counter blocks encrypted with the key, XORed over the data)
// and HMAC-SHA1 (§4.2.1). Both hold everything they need from creation on, so per-packet use
// allocates nothing.
import COpenSSLCrypto

/// AES-128 encryption of whole 16-byte blocks (ECB, no padding): the keystream generator for
/// counter mode, where each block is a counter value.
final class AES128Blocks {
    private let context: OpaquePointer

    /// Nil if libcrypto cannot set the key up (out of memory, or no AES in this build).
    init?(key: UnsafeRawBufferPointer) {
        guard key.count == 16, let context = EVP_CIPHER_CTX_new() else { return nil }
        self.context = context
        let keyBytes = key.bindMemory(to: UInt8.self).baseAddress
        guard EVP_EncryptInit_ex(context, EVP_aes_128_ecb(), nil, keyBytes, nil) == 1,
              EVP_CIPHER_CTX_set_padding(context, 0) == 1 else {
            EVP_CIPHER_CTX_free(context)
            return nil
        }
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    /// Encrypts `blocks` (a multiple of 16 bytes) in place. False if libcrypto fails.
    func encryptInPlace(_ blocks: UnsafeMutableRawBufferPointer) -> Bool {
        guard blocks.count % 16 == 0, blocks.count > 0, let base = blocks.bindMemory(to: UInt8.self).baseAddress else { return blocks.isEmpty }
        var written: Int32 = 0
        return EVP_EncryptUpdate(context, base, &written, base, Int32(blocks.count)) == 1 && Int(written) == blocks.count
    }

    /// The AES-CM keystream for `iv` (its last two bytes are the block counter, starting at
    /// the value they hold), `count` bytes into `out` rounded up to whole blocks.
    func counterKeystream(iv: (UInt64, UInt64), into out: UnsafeMutableRawBufferPointer, count: Int) -> Bool {
        let blocks = (count + 15) / 16
        guard blocks * 16 <= out.count else { return false }
        for block in 0..<blocks {
            // IV + block as a 128-bit big-endian number.
            let low = iv.1 &+ UInt64(block)
            let high = iv.0 &+ (low < iv.1 ? 1 : 0)
            storeBigEndian(high, at: block * 16, in: out)
            storeBigEndian(low, at: block * 16 + 8, in: out)
        }
        return encryptInPlace(UnsafeMutableRawBufferPointer(rebasing: out[0..<(blocks * 16)]))
    }
}

/// HMAC-SHA1 (RFC 2104) with the key's inner and outer hash states computed once.
struct HMACSHA1 {
    static let digestLength = 20
    private var inner = SHA_CTX()
    private var outer = SHA_CTX()

    init(key: UnsafeRawBufferPointer) {
        var block = [UInt8](repeating: 0, count: 64)
        if key.count > 64 {
            var digest = [UInt8](repeating: 0, count: 20)
            _ = digest.withUnsafeMutableBufferPointer { COpenSSLCrypto.SHA1(key.bindMemory(to: UInt8.self).baseAddress, key.count, $0.baseAddress) }
            block.replaceSubrange(0..<20, with: digest)
        } else {
            block.replaceSubrange(0..<key.count, with: key)
        }
        var innerPad = block.map { $0 ^ 0x36 }
        var outerPad = block.map { $0 ^ 0x5C }
        SHA1_Init(&inner)
        SHA1_Update(&inner, &innerPad, 64)
        SHA1_Init(&outer)
        SHA1_Update(&outer, &outerPad, 64)
    }

    /// HMAC over `message` followed by `suffix` (SRTP authenticates the packet, then the
    /// rollover counter), the 20-byte digest into `digest`.
    func authenticate(_ message: UnsafeRawBufferPointer, suffix: UInt32, into digest: UnsafeMutablePointer<UInt8>) {
        var context = inner
        SHA1_Update(&context, message.baseAddress, message.count)
        var suffixBytes = suffix.bigEndian
        SHA1_Update(&context, &suffixBytes, 4)
        SHA1_Final(digest, &context)
        var outerContext = outer
        SHA1_Update(&outerContext, digest, Self.digestLength)
        SHA1_Final(digest, &outerContext)
    }
}
