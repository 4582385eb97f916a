// SPDX-License-Identifier: MIT
// A stand-in for the OpenAI Realtime endpoint on loopback (ws://, or wss:// with a given
// certificate): it records every client
// event with the connection it came on, answers session.update with session.updated, emits
// input_audio_buffer.speech_started when appended PCM16 audio turns loud (a crude server VAD),
// and lets a test push server events (audio deltas, …) or drop the connection.
import AudioBridgeProtocols
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

final class FakeRealtimeServer: Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let port: Int
    private let state = NIOLockedValueBox(State())
    private let channel: Channel
    private let tls: Bool

    struct State {
        var connections: [Channel] = []
        /// (connection index, event) in arrival order.
        var events: [(Int, JSONValue)] = []
        var headers: [HTTPHeaders] = []
        /// Close each new connection right after its session.update, this many times.
        var dropsLeft = 0
        /// The crude VAD's state: whether the caller is talking, and ms of audio appended so far.
        var callerTalking = false
        var appendedMilliseconds = 0
        /// Whether the session is PCM16 (the crude VAD reads only that).
        var pcm = false
    }

    /// With `certificatePEM` and `keyPEM`, it serves wss:// with that certificate.
    init(certificatePEM: [UInt8]? = nil, keyPEM: [UInt8]? = nil) async throws {
        let state = state
        let sslContext: NIOSSLContext? = try certificatePEM.flatMap { certificatePEM in
            try keyPEM.map { keyPEM in
                try NIOSSLContext(configuration: TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMBytes(certificatePEM).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(bytes: keyPEM, format: .pem))))
            }
        }
        tls = sslContext != nil
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                if let sslContext {
                    do { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext)) } catch { return channel.eventLoop.makeFailedFuture(error) }
                }
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 24,
                    shouldUpgrade: { channel, head in
                        state.withLockedValue { $0.headers.append(head.headers) }
                        return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                    },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let index = state.withLockedValue { state -> Int in
                                state.connections.append(channel)
                                return state.connections.count - 1
                            }
                            try channel.pipeline.syncOperations.addHandler(NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: 1 << 24))
                            try channel.pipeline.syncOperations.addHandler(Recorder(index: index, state: state))
                        }
                    })
                return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
            }
        channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    var url: String { (tls ? "wss" : "ws") + "://127.0.0.1:\(port)/v1/realtime" }

    func dropNextConnections(_ count: Int) { state.withLockedValue { $0.dropsLeft = count } }

    var connectionCount: Int { state.withLockedValue { $0.connections.count } }
    var requestHeaders: [HTTPHeaders] { state.withLockedValue { $0.headers } }

    /// Client events of `type`, with their connection index.
    func events(_ type: String) -> [(Int, JSONValue)] { state.withLockedValue { $0.events.filter { $0.1["type"]?.string == type } } }

    /// All caller audio appended on every connection, base64-decoded.
    var appendedAudio: [UInt8] {
        events("input_audio_buffer.append").flatMap { (try? Base64.decode($0.1["audio"]?.string ?? "")) ?? [] }
    }

    /// Sends `event` on the newest connection.
    func send(_ event: JSONValue) {
        guard let channel = state.withLockedValue({ $0.connections.last }) else { return }
        var buffer = channel.allocator.buffer(capacity: 256)
        buffer.writeString(event.jsonText)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: buffer), promise: nil)
    }

    /// A response of `audio` (agent-format bytes) as one item, sent in `chunk`-byte deltas at once.
    func respond(response: String, item: String, audio: [UInt8], chunk: Int, done: Bool = true) {
        send(["type": "response.created", "response": ["id": .string(response), "status": "in_progress"]])
        for start in stride(from: 0, to: audio.count, by: chunk) {
            let piece = audio[start..<min(audio.count, start + chunk)]
            send(["type": "response.output_audio.delta", "response_id": .string(response), "item_id": .string(item), "output_index": 0,
                  "content_index": 0, "delta": .string(Base64.encode(piece))])
        }
        if done {
            send(["type": "response.output_audio.done", "response_id": .string(response), "item_id": .string(item)])
            send(["type": "response.done", "response": ["id": .string(response), "status": "completed"]])
        }
    }

    func stop() async throws {
        for connection in state.withLockedValue({ $0.connections }) { try? await connection.close() }
        try? await channel.close()
        try await group.shutdownGracefully()
    }

    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let index: Int
        let state: NIOLockedValueBox<State>

        init(index: Int, state: NIOLockedValueBox<State>) {
            self.index = index
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            guard frame.opcode == .text, let event = try? JSONParser.parse(frame.unmaskedData.readableBytesView) else {
                if frame.opcode == .connectionClose { context.close(promise: nil) }
                return
            }
            let (drop, speechStartedAt) = state.withLockedValue { state -> (Bool, Int?) in
                state.events.append((index, event))
                if event["type"]?.string == "session.update" {
                    state.pcm = event["session"]?["audio"]?["input"]?["format"]?["type"]?.string == "audio/pcm"
                }
                if state.pcm, event["type"]?.string == "input_audio_buffer.append", let audio = try? Base64.decode(event["audio"]?.string ?? "") {
                    // PCM16 24 kHz little-endian: loud means a mean level over 1,000.
                    let samples = stride(from: 0, to: audio.count - 1, by: 2).map { Int(Int16(bitPattern: UInt16(audio[$0]) | UInt16(audio[$0 + 1]) << 8)) }
                    let loud = !samples.isEmpty && samples.map(abs).reduce(0, +) / samples.count > 1000
                    defer { state.appendedMilliseconds += audio.count / 48; state.callerTalking = loud }
                    if loud, !state.callerTalking { return (false, state.appendedMilliseconds) }
                    return (false, nil)
                }
                guard event["type"]?.string == "session.update", state.dropsLeft > 0 else { return (false, nil) }
                state.dropsLeft -= 1
                return (true, nil)
            }
            if let speechStartedAt {
                var buffer = context.channel.allocator.buffer(capacity: 128)
                buffer.writeString(#"{"type":"input_audio_buffer.speech_started","audio_start_ms":\#(speechStartedAt),"item_id":"item_caller"}"#)
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
            }
            if drop {
                context.close(promise: nil)
            } else if event["type"]?.string == "session.update" {
                var buffer = context.channel.allocator.buffer(capacity: 64)
                buffer.writeString(#"{"type":"session.updated","session":{}}"#)
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
            }
        }
    }
}
