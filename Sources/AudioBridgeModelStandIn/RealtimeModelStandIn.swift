// SPDX-License-Identifier: MIT
// A local stand-in for the OpenAI Realtime endpoint, for tests and demos (not an agent: the
// bridge reaches it with `--agent openai --openai-url ws://…`). It speaks the event subset the
// bridge uses over ws:// (or wss:// with a given certificate) and:
//
//   records    every client event with the connection it came on (appends, commits, cancels,
//              truncates with audio_end_ms, …), for tests to assert on, and hands each to
//              `Options.onEvent` (the demo executable writes them as JSON lines)
//   hears      a crude server VAD on appended audio (PCM16 24 kHz, μ-law or A-law): a frame whose
//              mean level is over 1,000 is speech; speech_started when the caller starts,
//              speech_stopped after 400 ms of quiet
//   answers    with `Options.replyMilliseconds` set: after each caller turn (its own VAD, or the
//              client's commit + response.create when turn detection is off) it streams a reply
//              of that length — a voiced, syllable-modulated signal (`replyAudio`) — in 100 ms
//              deltas at four times real time; response.cancel stops it (status "cancelled")
//   transcribes  when the session asks for input transcription, each caller turn it heard gets a
//              `…input_audio_transcription.completed` ("caller turn N"), and each reply of its
//              own a `response.output_audio_transcript.done` ("reply N")
//   checks     a truncate of an item this connection never sent is refused with the `error`
//              the real service sends ("Conversation item … does not exist")
//   calls      with `Options.toolCalls`: its Nth reply ends with a call of the Nth function (a
//              `function_call` output item, before response.done), as a model does after it
//              said it would end or transfer the call
//   drops      with `Options.dropAfterFirstAnswerMilliseconds`: the first connection closes
//              that long after its first reply was streamed whole (no close frame)
//   is driven  tests can push any server event (`send`, `respond`) or drop connections
//
// Per-connection state lives in the connection's handler, on its event loop; what tests read is
// behind one lock.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AudioBridgeCore
import AudioBridgeProtocols
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

public final class RealtimeModelStandIn: Sendable {
    public struct Options: Sendable {
        /// Reply this long after each caller turn; nil: reply only when a test calls `respond`.
        public var replyMilliseconds: Int?
        /// Every client event as it arrives, with its connection index (on a NIO thread).
        public var onEvent: (@Sendable (Int, JSONValue) -> Void)?
        /// The target (path and query) and headers of every upgrade request (on a NIO thread).
        public var onUpgrade: (@Sendable (_ target: String, _ headers: [(String, String)]) -> Void)?
        /// Functions the replies call, in order: reply N calls toolCalls[N-1] (name, JSON arguments).
        public var toolCalls: [(name: String, arguments: String)] = []
        /// Close the first connection this long after its first reply was sent whole.
        public var dropAfterFirstAnswerMilliseconds: Int?
        /// Serve wss:// with this certificate and key (PEM).
        public var certificatePEM: [UInt8]?
        public var keyPEM: [UInt8]?
        public init() {}
    }

    public let port: Int
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let state = NIOLockedValueBox(Recorded())
    private let channel: Channel
    private let tls: Bool

    struct Recorded {
        var connections: [Channel] = []
        /// (connection index, event) in arrival order.
        var events: [(Int, JSONValue)] = []
        var headers: [HTTPHeaders] = []
        /// Close each new connection right after its session.update, this many times.
        var dropsLeft = 0
        /// `error` events sent for requests about items the connection never had.
        var staleItemRefusals = 0
        /// Items each connection sent audio of (only these may be truncated on it).
        var sentItems: [Int: Set<String>] = [:]
    }

    public init(options: Options = Options(), host: String = "127.0.0.1", port: Int = 0) async throws {
        let state = state
        let sslContext: NIOSSLContext? = try options.certificatePEM.flatMap { certificatePEM in
            try options.keyPEM.map { keyPEM in
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
                        options.onUpgrade?(head.uri, head.headers.map { ($0.name, $0.value) })
                        return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                    },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let index = state.withLockedValue { state -> Int in
                                state.connections.append(channel)
                                return state.connections.count - 1
                            }
                            try channel.pipeline.syncOperations.addHandler(NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64, maxAccumulatedFrameSize: 1 << 24))
                            try channel.pipeline.syncOperations.addHandler(StandInConnection(index: index, recorded: state, options: options))
                        }
                    })
                return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
            }
        channel = try await bootstrap.bind(host: host, port: port).get()
        self.port = channel.localAddress?.port ?? port
    }

    public var url: String { (tls ? "wss" : "ws") + "://127.0.0.1:\(port)/v1/realtime" }

    public func dropNextConnections(_ count: Int) { state.withLockedValue { $0.dropsLeft = count } }

    /// Closes connection `index` (by default the newest) at once: with a close frame carrying
    /// `code` and `reason`, or without one (`code` nil), as a crashed server or a cut link does.
    public func dropConnection(_ index: Int? = nil, code: UInt16? = nil, reason: String = "") {
        let channel = state.withLockedValue { recorded -> Channel? in
            guard let index else { return recorded.connections.last }
            return recorded.connections.indices.contains(index) ? recorded.connections[index] : nil
        }
        guard let channel else { return }
        if let code {
            var payload = channel.allocator.buffer(capacity: 2 + reason.utf8.count)
            payload.writeInteger(code)
            payload.writeString(reason)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            channel.close(promise: nil)
        }
    }

    /// How many truncates named an item their connection never had.
    public var staleItemRefusals: Int { state.withLockedValue { $0.staleItemRefusals } }

    public var connectionCount: Int { state.withLockedValue { $0.connections.count } }
    public var requestHeaders: [HTTPHeaders] { state.withLockedValue { $0.headers } }

    /// Client events of `type`, with their connection index.
    public func events(_ type: String) -> [(Int, JSONValue)] { state.withLockedValue { $0.events.filter { $0.1["type"]?.string == type } } }

    /// Every client event of connection `index`, in arrival order.
    public func eventsInOrder(connection index: Int) -> [JSONValue] { state.withLockedValue { $0.events.filter { $0.0 == index }.map(\.1) } }

    /// All caller audio appended on every connection, base64-decoded.
    public var appendedAudio: [UInt8] {
        events("input_audio_buffer.append").flatMap { (try? Base64.decode($0.1["audio"]?.string ?? "")) ?? [] }
    }

    /// Sends `event` on connection `index` (by default the newest).
    public func send(_ event: JSONValue, connection index: Int? = nil) {
        sendText(event.jsonText, connection: index)
    }

    /// Sends any text as one message — malformed JSON too, to test the client's handling.
    public func sendText(_ text: String, connection index: Int? = nil) {
        send(Array(text.utf8), opcode: .text, connection: index)
    }

    /// Sends one binary message (the Realtime protocol has none: the client must reject it).
    public func sendBinary(_ bytes: [UInt8], connection index: Int? = nil) {
        send(bytes, opcode: .binary, connection: index)
    }

    private func send(_ bytes: [UInt8], opcode: WebSocketOpcode, connection index: Int?) {
        let channel = state.withLockedValue { recorded -> Channel? in
            guard let index else { return recorded.connections.last }
            return recorded.connections.indices.contains(index) ? recorded.connections[index] : nil
        }
        guard let channel else { return }
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: opcode, data: buffer), promise: nil)
    }

    /// A response of `audio` (agent-format bytes) as one item, sent in `chunk`-byte deltas at once.
    public func respond(response: String, item: String, audio: [UInt8], chunk: Int, done: Bool = true, connection index: Int? = nil) {
        state.withLockedValue { recorded in
            guard let connection = index ?? (recorded.connections.isEmpty ? nil : recorded.connections.count - 1) else { return }
            recorded.sentItems[connection, default: []].insert(item)
        }
        send(["type": "response.created", "response": ["id": .string(response), "status": "in_progress"]], connection: index)
        for start in stride(from: 0, to: audio.count, by: chunk) {
            send(StandInConnection.delta(response: response, item: item, audio: audio[start..<min(audio.count, start + chunk)]), connection: index)
        }
        if done {
            send(["type": "response.output_audio.done", "response_id": .string(response), "item_id": .string(item)], connection: index)
            send(["type": "response.done", "response": ["id": .string(response), "status": "completed"]], connection: index)
        }
    }

    /// The stand-in's spoken reply: `milliseconds` of a 150 Hz voiced signal (five harmonics)
    /// whose loudness rises and falls four times a second like syllables, in `format`'s bytes.
    public static func replyAudio(milliseconds: Int, format: RealtimeAudioFormat) -> [UInt8] {
        let rate = format == .pcm16 ? 24000 : 8000
        let count = milliseconds * rate / 1000
        var samples = [Int16](repeating: 0, count: count)
        for index in 0..<count {
            let time = Double(index) / Double(rate)
            var voiced = 0.0
            for harmonic in 1...5 { voiced += sin(2 * Double.pi * 150 * Double(harmonic) * time) / Double(harmonic) }
            let syllable = 0.55 - 0.45 * cos(2 * Double.pi * 4 * time)
            samples[index] = Int16(5000 * syllable * voiced)
        }
        switch format {
        case .pcm16:
            return samples.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
        case .ulaw, .alaw:
            var codes = [UInt8](repeating: 0, count: count)
            samples.withUnsafeBufferPointer { input in
                codes.withUnsafeMutableBufferPointer { output in
                    if format == .ulaw { _ = ULaw.encode(input, into: output) } else { _ = ALaw.encode(input, into: output) }
                }
            }
            return codes
        }
    }

    public func stop() async throws {
        for connection in state.withLockedValue({ $0.connections }) { try? await connection.close() }
        try? await channel.close()
        try await group.shutdownGracefully()
    }

    // MARK: One connection

    final class StandInConnection: ChannelInboundHandler {
        typealias InboundIn = WebSocketFrame
        typealias OutboundOut = WebSocketFrame
        let index: Int
        let recorded: NIOLockedValueBox<Recorded>
        let options: Options
        private var context: ChannelHandlerContext?
        private var format: RealtimeAudioFormat = .pcm16
        private var serverVAD = true
        /// The crude VAD: whether the caller is talking, ms of audio so far, quiet ms since speech.
        private var callerTalking = false
        private var appendedMilliseconds = 0
        private var quietMilliseconds = 0
        private var responses = 0
        private var transcribes = false
        private var callerTurns = 0
        /// The reply being streamed: its ids and what is left to send.
        private var reply: (response: String, item: String, audio: [UInt8], sent: Int)?

        init(index: Int, recorded: NIOLockedValueBox<Recorded>, options: Options) {
            self.index = index
            self.recorded = recorded
            self.options = options
        }

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }
        func handlerRemoved(context: ChannelHandlerContext) { self.context = nil; reply = nil }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let frame = unwrapInboundIn(data)
            guard frame.opcode == .text, let event = try? JSONParser.parse(frame.unmaskedData.readableBytesView) else {
                if frame.opcode == .connectionClose { context.close(promise: nil) }
                return
            }
            let drop = recorded.withLockedValue { recorded -> Bool in
                recorded.events.append((index, event))
                guard event["type"]?.string == "session.update", recorded.dropsLeft > 0 else { return false }
                recorded.dropsLeft -= 1
                return true
            }
            options.onEvent?(index, event)
            if drop { context.close(promise: nil); return }
            switch event["type"]?.string {
            case "session.update":
                configure(event["session"])
                send(["type": "session.updated", "session": [:]])
            case "input_audio_buffer.append":
                if let audio = try? Base64.decode(event["audio"]?.string ?? "") { listen(audio) }
            case "input_audio_buffer.commit":
                send(["type": "input_audio_buffer.committed", "item_id": .string("item_caller_\(responses)")])
                transcribeCallerTurn()
            case "response.create":
                startReply()
            case "response.cancel":
                cancelReply()
            case "conversation.item.truncate":
                let item = event["item_id"]?.string ?? ""
                guard recorded.withLockedValue({ $0.sentItems[index]?.contains(item) ?? false }) else {
                    recorded.withLockedValue { $0.staleItemRefusals += 1 }
                    send(["type": "error", "error": ["type": "invalid_request_error", "code": "invalid_value",
                                                     "message": .string("Conversation item '\(item)' does not exist"), "param": "item_id"]])
                    return
                }
                send(["type": "conversation.item.truncated", "item_id": event["item_id"] ?? nil, "content_index": 0,
                      "audio_end_ms": event["audio_end_ms"] ?? 0])
            default:
                break
            }
        }

        /// Format and turn detection from session.update, in GA or beta field names.
        private func configure(_ session: JSONValue?) {
            let formatName = session?["audio"]?["input"]?["format"]?["type"]?.string ?? session?["input_audio_format"]?.string
            switch formatName {
            case "audio/pcmu", "g711_ulaw": format = .ulaw
            case "audio/pcma", "g711_alaw": format = .alaw
            default: format = .pcm16
            }
            let turnDetection = session?["audio"]?["input"]?["turn_detection"] ?? session?["turn_detection"]
            serverVAD = turnDetection != nil && turnDetection != .null
            transcribes = (session?["audio"]?["input"]?["transcription"] ?? session?["input_audio_transcription"]) != nil
        }

        private func transcribeCallerTurn() {
            callerTurns += 1
            guard transcribes else { return }
            send(["type": "conversation.item.input_audio_transcription.completed", "item_id": .string("item_caller_\(callerTurns)"),
                  "content_index": 0, "transcript": .string("caller turn \(callerTurns)")])
        }

        private func listen(_ audio: [UInt8]) {
            let samples: [Int]
            switch format {
            case .pcm16:
                samples = stride(from: 0, to: audio.count - 1, by: 2).map { Int(Int16(bitPattern: UInt16(audio[$0]) | UInt16(audio[$0 + 1]) << 8)) }
            case .ulaw, .alaw:
                var decoded = [Int16](repeating: 0, count: audio.count)
                audio.withUnsafeBufferPointer { codes in
                    decoded.withUnsafeMutableBufferPointer { if format == .ulaw { _ = ULaw.decode(codes, into: $0) } else { _ = ALaw.decode(codes, into: $0) } }
                }
                samples = decoded.map { Int($0) }
            }
            guard !samples.isEmpty else { return }
            let loud = samples.map(abs).reduce(0, +) / samples.count > 1000
            let milliseconds = audio.count / format.bytesPerMillisecond
            defer { appendedMilliseconds += milliseconds }
            guard serverVAD else { return }
            if loud {
                quietMilliseconds = 0
                if !callerTalking {
                    callerTalking = true
                    send(["type": "input_audio_buffer.speech_started", "audio_start_ms": .number(String(appendedMilliseconds)), "item_id": .string("item_caller_\(responses)")])
                }
            } else if callerTalking {
                quietMilliseconds += milliseconds
                if quietMilliseconds >= 400 {
                    callerTalking = false
                    send(["type": "input_audio_buffer.speech_stopped", "audio_end_ms": .number(String(appendedMilliseconds)), "item_id": .string("item_caller_\(responses)")])
                    send(["type": "input_audio_buffer.committed", "item_id": .string("item_caller_\(responses)")])
                    transcribeCallerTurn()
                    startReply()
                }
            }
        }

        private func startReply() {
            guard let milliseconds = options.replyMilliseconds, reply == nil else { return }
            responses += 1
            let response = "resp_standin_\(responses)", item = "item_standin_\(responses)"
            reply = (response, item, RealtimeModelStandIn.replyAudio(milliseconds: milliseconds, format: format), 0)
            send(["type": "response.created", "response": ["id": .string(response), "status": "in_progress"]])
            sendNextDelta()
        }

        /// One 100 ms delta now, the next in 25 ms: four times real time.
        private func sendNextDelta() {
            guard let context, var current = reply else { return }
            let chunk = 100 * format.bytesPerMillisecond
            let end = min(current.audio.count, current.sent + chunk)
            send(Self.delta(response: current.response, item: current.item, audio: current.audio[current.sent..<end]))
            recorded.withLockedValue { _ = $0.sentItems[index, default: []].insert(current.item) }
            current.sent = end
            if end == current.audio.count {
                send(["type": "response.output_audio.done", "response_id": .string(current.response), "item_id": .string(current.item)])
                send(["type": "response.output_audio_transcript.done", "response_id": .string(current.response), "item_id": .string(current.item),
                      "output_index": 0, "content_index": 0, "transcript": .string("reply \(responses)")])
                if options.toolCalls.indices.contains(responses - 1) {
                    let call = options.toolCalls[responses - 1]
                    send(["type": "response.output_item.done", "response_id": .string(current.response), "output_index": 1,
                          "item": ["id": .string("item_call_\(responses)"), "type": "function_call", "status": "completed",
                                   "name": .string(call.name), "call_id": .string("call_\(responses)"), "arguments": .string(call.arguments)]])
                }
                send(["type": "response.done", "response": ["id": .string(current.response), "status": "completed"]])
                reply = nil
                if index == 0, responses == 1, let delay = options.dropAfterFirstAnswerMilliseconds {
                    context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(delay))) { [weak self] in self?.context?.close(promise: nil) }
                }
                return
            }
            reply = current
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(25)) { [weak self] in self?.sendNextDelta() }
        }

        private func cancelReply() {
            guard let current = reply else { return }
            reply = nil
            send(["type": "response.done", "response": ["id": .string(current.response), "status": "cancelled"]])
        }

        private func send(_ event: JSONValue) {
            guard let context else { return }
            context.writeAndFlush(wrapOutboundOut(Self.textFrame(event, allocator: context.channel.allocator)), promise: nil)
        }

        static func textFrame(_ event: JSONValue, allocator: ByteBufferAllocator) -> WebSocketFrame {
            var buffer = allocator.buffer(capacity: 256)
            buffer.writeString(event.jsonText)
            return WebSocketFrame(fin: true, opcode: .text, data: buffer)
        }

        static func delta(response: String, item: String, audio: ArraySlice<UInt8>) -> JSONValue {
            ["type": "response.output_audio.delta", "response_id": .string(response), "item_id": .string(item), "output_index": 0,
             "content_index": 0, "delta": .string(Base64.encode(audio))]
        }
    }
}
