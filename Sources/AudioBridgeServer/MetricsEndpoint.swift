// SPDX-License-Identifier: MIT
// The operations endpoint (`--metrics HOST:PORT`), NIOHTTP1 only, on the server's event loops:
//   GET /metrics   every transport's metrics as Prometheus text (swift-prometheus writes it)
//   GET /healthz   200 while the process serves at all
//   GET /readyz    200 while calls are accepted, 503 once a drain has begun (a load balancer
//                  stops sending calls; the running ones go on)
// Anything else is a 404.
import NIOCore
import NIOHTTP1
import NIOPosix

public enum MetricsEndpoint {
    /// Serves host:port; returns the bound channel (close it to stop).
    public static func start(host: String, port: Int, services: BridgeServices, group: any EventLoopGroup) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(services: services))
                }
            }
            .bind(host: host, port: port).get()
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let services: BridgeServices
        private var path = ""

        init(services: BridgeServices) { self.services = services }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            case .body:
                break
            case .end:
                let (status, body): (HTTPResponseStatus, String) = switch path {
                case "/metrics": (.ok, services.metrics.prometheusText())
                case "/healthz": (.ok, "ok\n")
                case "/readyz": services.admission.isAccepting ? (.ok, "ready\n") : (.serviceUnavailable, "draining\n")
                default: (.notFound, "not found\n")
                }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: path == "/metrics" && status == .ok ? "text/plain; version=0.0.4" : "text/plain")
                headers.add(name: "Content-Length", value: "\(body.utf8.count)")
                headers.add(name: "Connection", value: "close")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
                var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
                buffer.writeString(body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
