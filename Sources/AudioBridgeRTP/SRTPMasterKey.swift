// SPDX-License-Identifier: MIT
// SRTP keying for the AES_CM_128_HMAC_SHA1 profiles: the 30-byte master key‖salt as SDES
// (RFC 4568) carries it, and the session keys derived from it (RFC 3711 §4.3 with a key
// derivation rate of 0, the SDES default: one derivation for the whole session).
import AudioBridgeCore

public enum SRTPProfile: Int32, Sendable, CaseIterable {
    /// AES_CM_128_HMAC_SHA1_80: 80-bit authentication tag (the usual one).
    case aes128CmHmacSha1_80 = 1
    /// AES_CM_128_HMAC_SHA1_32: 32-bit tag (RFC 3711 allows it for voice; RFC 4568 names it).
    case aes128CmHmacSha1_32 = 2

    public var tagLength: Int { self == .aes128CmHmacSha1_80 ? 10 : 4 }
    public var sdesName: String { self == .aes128CmHmacSha1_80 ? "AES_CM_128_HMAC_SHA1_80" : "AES_CM_128_HMAC_SHA1_32" }
}

public struct SRTPMasterKey: Equatable, Sendable {
    public static let keyLength = 16
    public static let saltLength = 14
    public let key: [UInt8]
    public let salt: [UInt8]

    public enum ParseError: Error, Equatable, Sendable {
        case badBase64
        /// Key‖salt must be 30 bytes for AES-128.
        case badLength(Int)
        /// A master key identifier (MKI) adds bytes to every packet; not supported.
        case mkiNotSupported
        case badLifetime
    }

    public init?(key: [UInt8], salt: [UInt8]) {
        guard key.count == Self.keyLength, salt.count == Self.saltLength else { return nil }
        self.key = key
        self.salt = salt
    }

    /// Key‖salt as one 30-byte string.
    public init?(keyAndSalt bytes: [UInt8]) {
        self.init(key: Array(bytes.prefix(Self.keyLength)), salt: bytes.count == Self.keyLength + Self.saltLength ? Array(bytes.suffix(Self.saltLength)) : [])
    }

    /// SDES key parameters: `[inline:]BASE64[|LIFETIME][|MKI:LENGTH]`, e.g. the part after
    /// the suite name in `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19…`.
    public init(sdes text: String) throws(ParseError) {
        var text = Substring(text)
        if text.hasPrefix("inline:") { text = text.dropFirst("inline:".count) }
        let parts = text.split(separator: "|", omittingEmptySubsequences: false)
        for extra in parts.dropFirst() {
            if extra.contains(":") { throw .mkiNotSupported }
            guard !extra.isEmpty, extra.allSatisfy({ $0.isNumber || $0 == "^" }) else { throw .badLifetime }
        }
        var bytes: [UInt8] = []
        do { try Base64.decode(Array(parts.first.map(String.init)?.utf8 ?? "".utf8), into: &bytes) } catch { throw .badBase64 }
        guard let key = SRTPMasterKey(keyAndSalt: bytes) else { throw .badLength(bytes.count) }
        self = key
    }

    /// Base64 of key‖salt, what an SDES `inline:` carries.
    public var sdes: String {
        var out: [UInt8] = []
        Base64.encode(key + salt, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// The session keys of one master key (RFC 3711 §4.3.1, key derivation rate 0).
public struct SRTPSessionKeys: Equatable, Sendable {
    public let encryptionKey: [UInt8]
    public let authenticationKey: [UInt8]
    public let salt: [UInt8]

    /// RFC 3711 labels: 0–2 for SRTP (encryption, authentication, salt), 3–5 for SRTCP.
    public enum Label: UInt8, Sendable { case rtpEncryption = 0, rtpAuthentication = 1, rtpSalt = 2 }

    /// Nil only if libcrypto fails.
    public init?(master: SRTPMasterKey) {
        guard let cipher = master.key.withUnsafeBytes({ AES128Blocks(key: $0) }) else { return nil }
        func derive(_ label: Label, count: Int) -> [UInt8]? {
            // x = label‖r (r = 0) XOR master salt, placed in the high 112 bits; the low 16 bits count blocks.
            var iv = master.salt + [0, 0]
            iv[7] ^= label.rawValue
            let high = iv[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = iv[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            var out = [UInt8](repeating: 0, count: (count + 15) / 16 * 16)
            let ok = out.withUnsafeMutableBytes { cipher.counterKeystream(iv: (high, low), into: $0, count: count) }
            return ok ? Array(out.prefix(count)) : nil
        }
        guard let encryption = derive(.rtpEncryption, count: 16),
              let authentication = derive(.rtpAuthentication, count: 20),
              let salt = derive(.rtpSalt, count: 14) else { return nil }
        encryptionKey = encryption
        authenticationKey = authentication
        self.salt = salt
    }
}
