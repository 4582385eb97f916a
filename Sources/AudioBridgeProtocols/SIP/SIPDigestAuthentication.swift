// SPDX-License-Identifier: MIT
// Digest authentication of SIP callers (RFC 3261 §22.4 with RFC 2617's MD5 and qop=auth), as a
// trunk or PBX that registers with a password expects of its peer: an INVITE without valid
// credentials is challenged (401 with WWW-Authenticate), the caller retries with an
// Authorization header, which is checked here. Nonces are stateless — the time they were made
// and an HMAC of it under a per-process secret — so a challenge costs no memory, and a nonce
// older than `nonceLifetimeSeconds` gets a fresh challenge with stale=true. Pure.
import COpenSSLCrypto

public struct SIPDigestAuthenticator: Sendable {
    public enum Verdict: Equatable, Sendable {
        case accepted(user: String)
        /// No credentials, or wrong ones: challenge (stale: the nonce had only expired).
        case challenge(stale: Bool)
    }

    public let realm: String
    public let nonceLifetimeSeconds: Int64
    private let passwords: [String: String]
    private let secret: [UInt8]

    public init(realm: String, users: [String: String], secret: [UInt8], nonceLifetimeSeconds: Int64 = 300) {
        self.realm = realm
        passwords = users
        self.secret = secret
        self.nonceLifetimeSeconds = nonceLifetimeSeconds
    }

    /// The WWW-Authenticate header's value for a nonce made at `now` (seconds).
    public func challenge(now: Int64, stale: Bool = false) -> String {
        #"Digest realm="\#(realm)", nonce="\#(nonce(at: now))", algorithm=MD5, qop="auth""# + (stale ? ", stale=true" : "")
    }

    /// Checks an Authorization header's value for a request of `method` at `now` (seconds).
    public func verify(authorization: String?, method: String, now: Int64) -> Verdict {
        guard let authorization, let fields = Self.parameters(ofDigest: authorization),
              let user = fields["username"], let password = passwords[user],
              fields["realm"] == realm, let nonce = fields["nonce"], let uri = fields["uri"], let response = fields["response"],
              (fields["algorithm"] ?? "MD5").uppercased() == "MD5"
        else { return .challenge(stale: false) }
        guard let made = madeAt(nonce) else { return .challenge(stale: false) }
        let expected: String
        switch fields["qop"] {
        case nil:
            expected = Self.response(user: user, realm: realm, password: password, method: method, uri: uri, nonce: nonce)
        case "auth":
            guard let count = fields["nc"], let clientNonce = fields["cnonce"] else { return .challenge(stale: false) }
            expected = Self.response(user: user, realm: realm, password: password, method: method, uri: uri, nonce: nonce,
                                     qop: (count: count, clientNonce: clientNonce))
        default:
            return .challenge(stale: false)
        }
        guard response.lowercased() == expected else { return .challenge(stale: false) }
        // Right credentials on an old nonce: the caller retries at once with a fresh one.
        guard now - made <= nonceLifetimeSeconds, made <= now + 5 else { return .challenge(stale: true) }
        return .accepted(user: user)
    }

    /// The response a client computes (RFC 2617 §3.2.2.1, MD5), with qop=auth when `qop` is given.
    public static func response(user: String, realm: String, password: String, method: String, uri: String, nonce: String,
                                qop: (count: String, clientNonce: String)? = nil) -> String {
        let ha1 = md5Hex("\(user):\(realm):\(password)")
        let ha2 = md5Hex("\(method):\(uri)")
        guard let qop else { return md5Hex("\(ha1):\(nonce):\(ha2)") }
        return md5Hex("\(ha1):\(nonce):\(qop.count):\(qop.clientNonce):auth:\(ha2)")
    }

    // MARK: Nonces

    func nonce(at seconds: Int64) -> String {
        let stamp = String(UInt64(bitPattern: seconds), radix: 16)
        return stamp + "." + Self.hex(SHA1.hmac(key: secret, message: Array(stamp.utf8)).prefix(12))
    }

    /// When a nonce of ours was made; nil if it is not ours.
    func madeAt(_ nonce: String) -> Int64? {
        let parts = nonce.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let stamp = UInt64(parts[0], radix: 16), self.nonce(at: Int64(bitPattern: stamp)) == nonce else { return nil }
        return Int64(bitPattern: stamp)
    }

    // MARK: The header

    /// `Digest k=v, k="v", …` as a dictionary (names lowercased); nil if it is not Digest or
    /// not well formed.
    static func parameters(ofDigest header: String) -> [String: String]? {
        var rest = Substring(header).drop { $0 == " " }
        guard rest.prefix(7).lowercased() == "digest " else { return nil }
        rest = rest.dropFirst(7)
        var fields: [String: String] = [:]
        while true {
            rest = rest.drop { $0 == " " || $0 == "," || $0 == "\t" }
            guard !rest.isEmpty else { return fields }
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let name = rest[..<equals].trimmingSpaces.lowercased()
            rest = rest[rest.index(after: equals)...].drop { $0 == " " }
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if escaped {
                        value.append(character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { return nil }
            } else {
                let token = rest.prefix { $0 != "," }
                value = String(token.trimmingSpaces)
                rest = rest.dropFirst(token.count)
            }
            guard !name.isEmpty, fields[name] == nil else { return nil }
            fields[name] = value
        }
    }

    static func md5Hex(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var digest = [UInt8](repeating: 0, count: 16)
        var length: UInt32 = 0
        bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                _ = EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, EVP_md5(), nil)
            }
        }
        return hex(digest)
    }

    static func hex(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }
}
