// SPDX-License-Identifier: MIT
// The ws:// or wss:// URL a network agent dials.

/// A ws/wss URL, split for the connection: TLS or not, host, port, and the request target.
struct WebSocketURL: Equatable {
    var tls: Bool
    var host: String
    var port: Int
    var target: String

    init?(_ text: String) {
        let tls: Bool
        let rest: Substring
        if text.hasPrefix("wss://") { tls = true; rest = text.dropFirst(6) } else if text.hasPrefix("ws://") { tls = false; rest = text.dropFirst(5) } else { return nil }
        let slash = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        var authority = rest[..<slash]
        var port = tls ? 443 : 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65535).contains(number) else { return nil }
            port = number
            authority = authority[..<colon]
        }
        if authority.hasPrefix("["), authority.hasSuffix("]") { authority = authority.dropFirst().dropLast() }
        guard !authority.isEmpty else { return nil }
        let target = rest[slash...]
        self.tls = tls
        self.host = String(authority)
        self.port = port
        self.target = target.isEmpty ? "/" : (target.hasPrefix("?") ? "/" + target : String(target))
    }
}
