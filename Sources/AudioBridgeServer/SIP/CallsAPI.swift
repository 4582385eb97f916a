// SPDX-License-Identifier: MIT
// The outbound-call API (`serve --sip … --api HOST:PORT`), NIOHTTP1 only:
//   POST /calls   {"to":"sip:+14155550100@trunk.example.net"} with `Authorization: Bearer TOKEN`
//                 (and "timeoutSeconds": how long it may ring, default 60; then it is CANCELled)
//                 places a call through the SIP user agent and answers when it is answered:
//                 200 {"call":"sip-7","status":"answered"}, or, when it failed, the SIP status's
//                 class: 4xx/5xx/6xx → 502 {"status":"failed","sipStatus":486,"reason":"…"}
//                 (503 when the bridge is full or draining, 400 for a bad request).
// A wrong or missing token is 401; anything else is 404.
import AudioBridgeProtocols
import NIOCore
import NIOHTTP1
import NIOPosix

public enum CallsAPI {
    public static let path = "/calls"
    static let maximumBodyBytes = 4096

    /// Serves host:port; returns the bound channel (close it to stop).
    public static func start(host: String, port: Int, token: String, sip: SIPServer, group: any EventLoopGroup) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(token: token, sip: sip))
                }
            }
            .bind(host: host, port: port).get()
    }

    /// The client side (`audiobridge dial`): POSTs the call to a running server's API and
    /// returns the HTTP status and the JSON answer's text.
    public static func dial(_ target: String, api: String, token: String, timeoutSeconds: Int64, group: any EventLoopGroup) async throws -> (status: UInt, body: String) {
        guard let url = ServerURL.http(api.hasSuffix(path) ? api : api + path) else { throw HTTPRequestError.failed("--api is an http:// URL") }
        let body = Array(JSONValue.object([("to", .string(target))]).jsonText.utf8)
        let loop = group.next()
        let answer = try await loop.flatSubmit {  // HTTPRequester runs on its loop
            HTTPRequester.post(url, headers: [("Authorization", "Bearer " + token)], contentType: "application/json", body: body,
                               timeout: .seconds(timeoutSeconds), eventLoop: loop)
        }.get()
        return (answer.status, String(decoding: answer.body, as: UTF8.self))
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        private let token: String
        private let sip: SIPServer
        private var head: HTTPRequestHead?
        private var body: [UInt8] = []
        private var tooLarge = false

        init(token: String, sip: SIPServer) {
            self.token = token
            self.sip = sip
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = []
                tooLarge = false
            case .body(var buffer):
                if body.count + buffer.readableBytes > CallsAPI.maximumBodyBytes { tooLarge = true } else { body += buffer.readBytes(length: buffer.readableBytes) ?? [] }
            case .end:
                guard let head else { return }
                handle(head, context: context)
            }
        }

        private func handle(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            guard path == CallsAPI.path else { return respond(.notFound, ["error": .string("not found")], context: context) }
            guard head.method == .POST else { return respond(.methodNotAllowed, ["error": .string("POST only")], context: context) }
            guard Self.constantTimeEqual(head.headers.first(name: "Authorization") ?? "", "Bearer " + token) else {
                return respond(.unauthorized, ["error": .string("a bearer token is required")], context: context)
            }
            guard !tooLarge, let request = try? JSONParser.parse(body), let target = request["to"]?.string else {
                return respond(.badRequest, ["error": .string(#"the body is {"to":"sip:…"[,"timeoutSeconds":N]}"#)], context: context)
            }
            var timeout: Int64 = 60
            if let given = request["timeoutSeconds"] {
                guard case .number(let text) = given, let seconds = Int64(text), (1...300).contains(seconds) else {
                    return respond(.badRequest, ["error": .string("timeoutSeconds is a whole number of seconds, 1-300")], context: context)
                }
                timeout = seconds
            }
            let loop = context.eventLoop
            let promise = loop.makePromise(of: PlacedCallOutcome.self)
            promise.completeWithTask { [sip, timeout] in await sip.place(to: target, timeoutSeconds: timeout) }
            // On this channel's loop, where the handler lives.
            promise.futureResult.assumeIsolated().whenSuccess { [self] outcome in
                switch outcome {
                case .answered(let callID):
                    respond(.ok, ["call": .string(callID), "status": .string("answered")], context: context)
                case .failed(let status, let reason):
                    let http: HTTPResponseStatus = status == 400 ? .badRequest : status == 503 ? .serviceUnavailable : .badGateway
                    respond(http, ["status": .string("failed"), "sipStatus": .number(String(status)), "reason": .string(reason)], context: context)
                }
            }
        }

        private func respond(_ status: HTTPResponseStatus, _ fields: KeyValuePairs<String, JSONValue>, context: ChannelHandlerContext) {
            let text = JSONValue.object(fields.map { ($0.key, $0.value) }).jsonText + "\n"
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }

        /// Compares without stopping at the first difference, so the time taken says nothing
        /// about how much of a guessed token was right.
        static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
            let x = Array(a.utf8), y = Array(b.utf8)
            var difference = UInt8(x.count == y.count ? 0 : 1)
            for index in 0..<max(x.count, y.count) {
                difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
            }
            return difference == 0
        }
    }
}
