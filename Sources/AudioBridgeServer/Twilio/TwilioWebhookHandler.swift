// SPDX-License-Identifier: MIT
// The two voice webhooks: collect the form body (bounded), check the signature when a token is
// configured, answer `<Connect><Stream>` TwiML. Anything else is 404; an oversized body is 413.
import AudioBridgeProtocols
import NIOCore
import NIOHTTP1

final class TwilioWebhookHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let maximumBody = 64 * 1024
    private let server: TwilioServer
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(server: TwilioServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.removeAll(keepingCapacity: true)
            tooLarge = false
        case .body(let chunk):
            if body.count + chunk.readableBytes > Self.maximumBody { tooLarge = true } else { body += chunk.readableBytesView }
        case .end:
            guard let head else { return }
            self.head = nil
            let (status, twiml) = tooLarge ? (.payloadTooLarge, nil) : answer(head)
            respond(context: context, head: head, status: status, twiml: twiml)
        }
    }

    /// The response to one webhook request.
    private func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String?) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first.map { TwilioWebhook.formParameters(Array($0.utf8)) } ?? []
        if path == TwilioServer.mediaPath { return (refuseStream(head), nil) }
        guard head.method == .POST, path == TwilioServer.voicePath || path == TwilioServer.outboundPath else { return (.notFound, nil) }
        let parameters = TwilioWebhook.formParameters(body)
        let base = server.baseURL(host: head.headers.first(name: "Host"))
        if let token = server.configuration.authToken {
            let signature = head.headers.first(name: "X-Twilio-Signature") ?? ""
            guard TwilioSignature.isValid(signature, authToken: token, url: base + head.uri, parameters: parameters) else {
                server.services.metrics[.twilio].add(.webhooksRejected)
                server.logger.warning("webhook rejected: bad or missing X-Twilio-Signature", metadata: ["path": "\(path)"])
                return (.forbidden, nil)
            }
        }
        server.services.metrics[.twilio].add(.webhooksAnswered)
        func value(_ name: String) -> String { parameters.first { $0.0 == name }?.1 ?? "" }
        let outbound = path == TwilioServer.outboundPath
        var streamParameters = [("caller", outbound ? value("To") : value("From")), ("callSid", value("CallSid")),
                                ("direction", outbound ? "outbound" : "inbound")]
        if let purpose = query.first(where: { $0.0 == "purpose" })?.1 { streamParameters.append(("purpose", purpose)) }
        server.logger.info("webhook: connecting the call's stream", metadata: ["callSid": "\(value("CallSid"))", "direction": "\(streamParameters[2].1)"])
        return (.ok, TwilioWebhook.connectStream(url: server.streamURL(base: base), parameters: streamParameters))
    }

    /// A stream request the upgrader turned down: counted and answered with the reason.
    private func refuseStream(_ head: HTTPRequestHead) -> HTTPResponseStatus {
        let metrics = server.services.metrics[.twilio]
        let status = server.streamRefusal(head) ?? .badRequest  // no refusal: it was not a WebSocket request
        switch status {
        case .forbidden:
            metrics.add(.refusedUnauthorized)
            server.logger.warning("stream refused: bad or missing X-Twilio-Signature on the WebSocket handshake")
        case .serviceUnavailable:
            if let refusal = server.services.admission.wouldRefuse() { metrics.count(refusal) } else { metrics.add(.refusedAtLimit) }
            server.logger.notice("stream refused: \(server.services.admission.isAccepting ? "at --max-calls" : "draining")")
        default:
            break
        }
        return status
    }

    private func respond(context: ChannelHandlerContext, head request: HTTPRequestHead, status: HTTPResponseStatus, twiml: String?) {
        let body = twiml ?? "\(status.code) \(status.reasonPhrase)\n"
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: twiml == nil ? "text/plain" : "text/xml")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
