// SPDX-License-Identifier: MIT
// A URL the bridge dials — a network agent's ws:// or wss://, a webhook's or an API's http:// or
// https:// — split for the connection.

struct ServerURL: Equatable {
    var tls: Bool
    var host: String
    var port: Int
    /// The path and query ("/" at least).
    var target: String

    /// ws:// or wss://.
    static func webSocket(_ text: String) -> ServerURL? { ServerURL(text, plain: "ws", secure: "wss") }

    /// http:// or https://.
    static func http(_ text: String) -> ServerURL? { ServerURL(text, plain: "http", secure: "https") }

    /// `scheme://host[:port][/path][?query]` with one of the two schemes (the secure one is
    /// TLS); an IPv6 host in brackets; no user info.
    private init?(_ text: String, plain: String, secure: String) {
        let tls: Bool
        let rest: Substring
        if text.hasPrefix(secure + "://") { tls = true; rest = text.dropFirst(secure.count + 3) } else if text.hasPrefix(plain + "://") { tls = false; rest = text.dropFirst(plain.count + 3) } else { return nil }
        let slash = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        var authority = rest[..<slash]
        var port = tls ? 443 : 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65535).contains(number) else { return nil }
            port = number
            authority = authority[..<colon]
        }
        if authority.hasPrefix("["), authority.hasSuffix("]") { authority = authority.dropFirst().dropLast() }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let target = rest[slash...]
        self.tls = tls
        self.host = String(authority)
        self.port = port
        self.target = target.isEmpty ? "/" : (target.hasPrefix("?") ? "/" + target : String(target))
    }

    /// The Host header's value: the port only when it is not the scheme's default.
    var hostHeader: String { port == (tls ? 443 : 80) ? host : "\(host):\(port)" }

    /// Whether the host is an IP literal (TLS then verifies the address, with no SNI name).
    var hostIsAddress: Bool { host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." } }

    /// The URL with `path` appended to its target (for an API's base URL).
    func appending(path: String) -> ServerURL {
        var url = self
        url.target = (target.hasSuffix("/") ? String(target.dropLast()) : target) + path
        return url
    }
}
