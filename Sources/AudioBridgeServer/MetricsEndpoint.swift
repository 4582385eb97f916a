// SPDX-License-Identifier: MIT
// A minimal HTTP endpoint for Prometheus: GET /metrics returns the server's metrics as text,
// followed by any other listener's (`more`, e.g. the Twilio counters); anything else is a 404.
// NIOHTTP1 only, on the server's event loops.
import NIOCore
import NIOHTTP1
import NIOPosix

public enum MetricsEndpoint {
    /// Serves `metrics` (and the text of `more`) on host:port; returns the bound channel (close it to stop).
    public static func start(host: String, port: Int, metrics: ServerMetrics, more: [@Sendable () -> String] = [],
                             group: any EventLoopGroup) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(metrics: metrics, more: more))
                }
            }
            .bind(host: host, port: port).get()
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let metrics: ServerMetrics
        let more: [@Sendable () -> String]
        private var path = ""

        init(metrics: ServerMetrics, more: [@Sendable () -> String]) {
            self.metrics = metrics
            self.more = more
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                path = head.uri
            case .body:
                break
            case .end:
                let found = path == "/metrics"
                let body = found ? more.reduce(metrics.prometheusText()) { $0 + $1() } : "not found\n"
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4" : "text/plain")
                headers.add(name: "Content-Length", value: "\(body.utf8.count)")
                headers.add(name: "Connection", value: "close")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: found ? .ok : .notFound, headers: headers))), promise: nil)
                var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
                buffer.writeString(body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
