// SPDX-License-Identifier: MIT
// Why an agent's WebSocket failed to connect or ended, in words an operator can act on: which
// layer (DNS, TCP, TLS, HTTP upgrade, WebSocket close) and what it said. The first cause seen on
// a connection is the one reported; later errors are its consequences.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

enum WebSocketFailure {
    /// One line for an error NIO or NIOSSL raised while connecting or on the open connection.
    static func describe(_ error: Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first {
                return "TCP: \(first.target): \(describeIO(first.error))"
            }
            let dns = error.dnsAError ?? error.dnsAAAAError
            return "DNS: \(error.host) not resolved" + (dns.map { " (\($0))" } ?? "")
        case ChannelError.connectTimeout(let timeout):
            return "TCP: no connection within \(timeout.nanoseconds / 1_000_000) ms"
        case let error as NIOSSLError:
            return "TLS: \(error)"
        case let error as NIOSSLExtraError:
            return "TLS: \(error)"
        case let error as IOError:
            return "TCP: \(describeIO(error))"
        case let error as NIOWebSocketError:
            return "WebSocket: \(error)"
        default:
            return "\(error)"
        }
    }

    private static func describeIO(_ error: Error) -> String {
        guard let error = error as? IOError else { return "\(error)" }
        return String(cString: strerror(error.errnoCode)) + " (errno \(error.errnoCode))"
    }

    /// The answer to the upgrade request when it was not 101 Switching Protocols.
    static func upgradeRefused(_ head: HTTPResponseHeadSummary) -> String {
        "HTTP \(head.code) \(head.reason) on the upgrade" + (head.detail.isEmpty ? "" : ": \(head.detail)")
    }

    /// A close frame's payload: the status code (RFC 6455 §7.4) and the reason text, if any.
    static func closedByServer(_ payload: ByteBuffer) -> String {
        var payload = payload
        guard let code = payload.readInteger(as: UInt16.self) else { return "closed by the server (no status code)" }
        let reason = payload.readString(length: payload.readableBytes) ?? ""
        return "closed by the server: \(code)" + (reason.isEmpty ? "" : " \(reason)")
    }
}

/// What of a refused upgrade's response is worth a log line.
struct HTTPResponseHeadSummary {
    var code: UInt
    var reason: String
    /// A header that says why, when the server sent one (e.g. WWW-Authenticate).
    var detail: String
}

/// The first cause seen on one connection (connect, upgrade, frames, close).
final class WebSocketConnectionCause {
    private(set) var text: String?

    func record(_ cause: String) {
        if text == nil { text = cause }
    }
}

/// Sits behind NIO's upgrade handler until the upgrade is done: when the server answers with
/// anything but 101, NIO hands the response on to here, which keeps its status, the reason a
/// server gives in WWW-Authenticate and the start of its body, then closes. Also records the
/// first error raised before the upgrade (TLS verification, a reset).
final class UpgradeResponseObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    private static let bodyBytesKept = 200
    private let cause: WebSocketConnectionCause
    private var refused: HTTPResponseHeadSummary?

    init(cause: WebSocketConnectionCause) { self.cause = cause }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            refused = HTTPResponseHeadSummary(code: head.status.code, reason: head.status.reasonPhrase,
                                              detail: head.headers.first(name: "WWW-Authenticate") ?? "")
        case .body(var body):
            guard var summary = refused, summary.detail.utf8.count < Self.bodyBytesKept else { return }
            let text = body.readString(length: min(body.readableBytes, Self.bodyBytesKept)) ?? ""
            summary.detail += (summary.detail.isEmpty ? "" : " ") + String(text.map { $0.isNewline ? " " : $0 })
            refused = summary
        case .end:
            finish(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context)
        context.fireChannelInactive()
    }

    private func finish(context: ChannelHandlerContext) {
        guard let summary = refused else { return }
        refused = nil
        cause.record(WebSocketFailure.upgradeRefused(summary))
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        cause.record(WebSocketFailure.describe(error))
        context.fireErrorCaught(error)
    }
}
