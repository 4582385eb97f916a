// SPDX-License-Identifier: MIT
// One HTTP/1.1 POST and its answer, for call control: Twilio's REST API (end or transfer a
// call) and the tool webhook. A connection per request (these are rare: a few per call at
// most), TLS for https with the system's roots (and a PEM's, for a private CA), one deadline
// over connect, request and answer. The answer's body is kept up to 64 KiB.
import AudioBridgeCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

struct HTTPAnswer: Equatable {
    var status: UInt
    var body: [UInt8]
}

enum HTTPRequestError: Error, CustomStringConvertible {
    case timedOut(milliseconds: Int64)
    case closedBeforeAnswer
    case failed(String)

    var description: String {
        switch self {
        case .timedOut(let milliseconds): "no answer within \(milliseconds) ms"
        case .closedBeforeAnswer: "the connection closed before an answer"
        case .failed(let cause): cause
        }
    }
}

enum HTTPRequester {
    static let maximumBodyBytes = 64 * 1024

    /// POSTs `body` to `url` and answers with the status and body; fails with an HTTPRequestError.
    static func post(_ url: ServerURL, headers: [(String, String)], contentType: String, body: [UInt8], timeout: TimeAmount,
                     trustRootsPEM: [UInt8]? = nil, eventLoop: any EventLoop) -> EventLoopFuture<HTTPAnswer> {
        let promise = eventLoop.makePromise(of: HTTPAnswer.self)
        let collector = NIOLoopBound(AnswerCollector(promise: promise), eventLoop: eventLoop)
        let milliseconds = timeout.nanoseconds / 1_000_000
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if url.tls {
                        var tls = TLSConfiguration.makeClientConfiguration()
                        if let pem = trustRootsPEM { tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMBytes(pem))] }
                        try sync.addHandler(try NIOSSLClientHandler(context: try NIOSSLContext(configuration: tls), serverHostname: url.hostIsAddress ? nil : url.host))
                    }
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(collector.value)
                }
            }
        let deadline = eventLoop.assumeIsolated().scheduleTask(in: timeout) { promise.fail(HTTPRequestError.timedOut(milliseconds: milliseconds)) }
        bootstrap.connect(host: url.host, port: url.port).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: url.target)
                head.headers.add(name: "Host", value: url.hostHeader)
                head.headers.add(name: "Content-Type", value: contentType)
                head.headers.add(name: "Content-Length", value: "\(body.count)")
                head.headers.add(name: "Connection", value: "close")
                for (name, value) in headers { head.headers.add(name: name, value: value) }
                var buffer = channel.allocator.buffer(capacity: body.count)
                buffer.writeBytes(body)
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            case .failure(let error):
                promise.fail(HTTPRequestError.failed(WebSocketFailure.describe(error)))
            }
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        return promise.futureResult
    }

    /// `user:password` as an Authorization header value.
    static func basicAuthorization(user: String, password: String) -> String {
        "Basic " + Base64.encode(Array("\(user):\(password)".utf8))
    }

    /// `application/x-www-form-urlencoded` of `fields`, in order.
    static func form(_ fields: [(String, String)]) -> [UInt8] {
        Array(fields.map { formEscape($0.0) + "=" + formEscape($0.1) }.joined(separator: "&").utf8)
    }

    private static func formEscape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "*"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                out += "+"
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 15)])
            }
        }
        return out
    }
}

/// Collects one answer: its status, then its body up to the bound; fails the request on an
/// error or a close before the answer ended.
private final class AnswerCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let promise: EventLoopPromise<HTTPAnswer>
    private var answer: HTTPAnswer?

    init(promise: EventLoopPromise<HTTPAnswer>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            answer = HTTPAnswer(status: head.status.code, body: [])
        case .body(let buffer):
            guard var current = answer else { return }
            let room = HTTPRequester.maximumBodyBytes - current.body.count
            current.body += buffer.readableBytesView.prefix(max(0, room))
            answer = current
        case .end:
            if let answer { promise.succeed(answer) } else { promise.fail(HTTPRequestError.closedBeforeAnswer) }
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(HTTPRequestError.closedBeforeAnswer)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(HTTPRequestError.failed(WebSocketFailure.describe(error)))
        context.close(promise: nil)
    }
}
