// SPDX-License-Identifier: MIT
// Who may open a media WebSocket. Asterisk's websocket_client.conf sends HTTP basic auth
// (username, password); FreeSWITCH's fork modules take a URL, so a token rides in it
// (`?token=…`) or, from a proxy, in `Authorization: Bearer …`. The check runs on the upgrade
// request, before any WebSocket exists; comparisons take the same time for every wrong guess.
import AudioBridgeCore
import AudioBridgeProtocols
import NIOHTTP1

public enum MediaWebSocketCredential: Sendable, Equatable {
    case basic(username: String, password: String)
    case token(String)

    enum Verdict { case missing, wrong, accepted }

    func check(_ head: HTTPRequestHead) -> Verdict {
        let authorization = head.headers.first(name: "Authorization")
        switch self {
        case .basic(let username, let password):
            guard let authorization, authorization.lowercased().hasPrefix("basic ") else { return .missing }
            let expected = Base64.encode(Array("\(username):\(password)".utf8))
            return Self.same(String(authorization.dropFirst(6)).trimmingSpaces, expected) ? .accepted : .wrong
        case .token(let token):
            if let authorization, authorization.lowercased().hasPrefix("bearer ") {
                return Self.same(String(authorization.dropFirst(7)).trimmingSpaces, token) ? .accepted : .wrong
            }
            guard let given = MediaWebSocketServer.query(head.uri)["token"] else { return .missing }
            return Self.same(given, token) ? .accepted : .wrong
        }
    }

    /// The WWW-Authenticate challenge of a 401.
    var challenge: String {
        switch self {
        case .basic: #"Basic realm="audiobridge""#
        case .token: #"Bearer realm="audiobridge""#
        }
    }

    /// Equal, in time that depends on the lengths only.
    private static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

private extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return String(text)
    }
}
