// SPDX-License-Identifier: MIT
// What a deployment adds to a network agent's connection, checked once at start: more HTTP
// headers on the upgrade (a gateway's token, Azure's `api-key`) and a PEM file of certificates
// to trust besides the system's (a model server behind a private CA).
import NIOSSL

public enum AgentConnectionOptions {
    /// "Name: value" → (name, value): the name an RFC 9110 token, the value trimmed, neither
    /// with a line break (which would inject a header). Nil when it is not such a header.
    public static func header(_ text: String) -> (name: String, value: String)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = String(text[..<colon])
        let value = String(text[text.index(after: colon)...].drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        let tokenSymbols = Set("!#$%&'*+-.^_`|~".utf8)
        guard !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || tokenSymbols.contains($0) }),
              !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else { return nil }
        return (name, value)
    }

    /// The number of certificates in `pem`; throws when it holds none or cannot be read.
    public static func certificateCount(pem: [UInt8]) throws -> Int {
        let certificates = try NIOSSLCertificate.fromPEMBytes(pem)
        guard !certificates.isEmpty else { throw NIOSSLError.failedToLoadCertificate }
        return certificates.count
    }
}
