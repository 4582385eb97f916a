// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeModelStandIn
import AudioBridgeProtocols
import AudioBridgeRTP
import AudioBridgeSession
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
@testable import AudioBridgeServer

/// The model's tools, end to end over AudioSocket with the model stand-in: end_call waits for
/// the goodbye to be heard, the deployment's tools go to a webhook (answer, timeout, unknown
/// tool, a refused call-control tool), and key presses reach the model as text.
@Suite(.serialized)
struct RealtimeToolsTests {
    static func elements(_ value: JSONValue?) -> [JSONValue] {
        if case .array(let list)? = value { list } else { [] }
    }

    static func functionCall(_ name: String, callID: String, arguments: String, response: String) -> JSONValue {
        ["type": "response.output_item.done", "response_id": .string(response), "output_index": 1,
         "item": ["id": .string("item_\(callID)"), "type": "function_call", "status": "completed", "name": .string(name),
                  "call_id": .string(callID), "arguments": .string(arguments)]]
    }

    /// The model says goodbye (1 s of audio) and calls end_call in the same response: the
    /// caller hears all of it, then AudioSocket's hang-up ends the call long before the caller
    /// would have; the model was only offered end_call (AudioSocket can neither transfer nor
    /// send digits) and gets its output.
    @Test func endCallHangsUpOnceTheGoodbyeIsHeard() async throws {
        let fake = try await RealtimeModelStandIn()
        let server = try await TestServer(agent: "openai", realtime: RealtimeAgentTests.configuration(fake))
        let uuid = newUUID()
        let call = Task { try await server.call(AudioSocketCallScript(uuid: uuid, caller: [], totalFrames: 400)) }
        try await RealtimeAgentTests.waitFor { fake.events("session.update").count == 1 }
        #expect(Self.elements(fake.events("session.update").first?.1["session"]?["tools"]).map { $0["name"] } == ["end_call"])
        fake.respond(response: "resp_1", item: "item_1", audio: RealtimeAgentTests.tone(milliseconds: 1000), chunk: 4800, done: false)
        fake.send(Self.functionCall("end_call", callID: "call_1", arguments: #"{"reason":"done"}"#, response: "resp_1"))
        fake.send(["type": "response.output_audio.done", "response_id": "resp_1", "item_id": "item_1"])
        fake.send(["type": "response.done", "response": ["id": "resp_1", "status": "completed"]])
        let result = try await call.value

        #expect(result.hungUpByServer, "AudioSocket's hang-up")
        #expect(abs(RealtimeAgentTests.loudFrames(result.received) - 50) <= 2, "the whole goodbye: \(RealtimeAgentTests.loudFrames(result.received))")
        #expect(result.framesReceived < 200, "ended after the goodbye, not after 8 s: \(result.framesReceived) frames")
        try await RealtimeAgentTests.waitFor { !fake.events("conversation.item.create").isEmpty }
        let output = fake.events("conversation.item.create").first?.1["item"]
        #expect(output?["type"] == "function_call_output" && output?["call_id"] == "call_1")
        #expect(output?["output"]?.string.flatMap { try? JSONParser.parse(Array($0.utf8)) }?["ok"] == .bool(true))
        try await server.stop()
        try await fake.stop()
    }

    /// The caller talks over the goodbye: the call goes on (no hang-up), and the model is told.
    @Test func talkingOverTheGoodbyeCancelsEndCall() async throws {
        let fake = try await RealtimeModelStandIn()
        let server = try await TestServer(agent: "openai", realtime: RealtimeAgentTests.configuration(fake))
        let uuid = newUUID()
        let caller = [Int16](repeating: 0, count: 8000) + talk(seconds: 1, level: 12000, seed: 1)
        let call = Task { try await server.call(AudioSocketCallScript(uuid: uuid, caller: caller, totalFrames: 200)) }
        try await RealtimeAgentTests.waitFor { fake.events("session.update").count == 1 }
        fake.respond(response: "resp_1", item: "item_1", audio: RealtimeAgentTests.tone(milliseconds: 3000), chunk: 4800, done: false)
        fake.send(Self.functionCall("end_call", callID: "call_1", arguments: "{}", response: "resp_1"))
        fake.send(["type": "response.output_audio.done", "response_id": "resp_1", "item_id": "item_1"])
        fake.send(["type": "response.done", "response": ["id": "resp_1", "status": "completed"]])
        let result = try await call.value

        #expect(!result.hungUpByServer && result.framesReceived >= 195, "the call went on to the caller's end")
        #expect(server.events(.bargeIn, of: uuid).count == 1)
        let output = fake.events("conversation.item.create").first { $0.1["item"]?["call_id"] == "call_1" }?.1["item"]?["output"]?.string
        #expect(output.flatMap { try? JSONParser.parse(Array($0.utf8)) } == ["ok": false, "error": "the caller interrupted; the call goes on"])
        try await server.stop()
        try await fake.stop()
    }

    /// The deployment's tools through the webhook: an answer comes back as the call's output
    /// (then response.create); a tool that does not answer in time, a tool nobody declared and a
    /// call-control tool this phone side cannot do are answered too, with what went wrong.
    @Test func webhookToolsAnswerTimeOutOrAreRefused() async throws {
        let webhook = try await ToolWebhook()
        let fake = try await RealtimeModelStandIn()
        var configuration = RealtimeAgentTests.configuration(fake)
        configuration.tools.webhookTools = [
            RealtimeTool(name: "get_weather", description: "Weather for a city.", parameters: ["type": "object", "properties": ["city": ["type": "string"]]]),
            RealtimeTool(name: "slow_tool", description: "Never answers.", parameters: ["type": "object", "properties": [:]]),
        ]
        configuration.tools.webhookURL = "http://127.0.0.1:\(webhook.port)/tools"
        configuration.tools.webhookTimeoutMilliseconds = 300
        let server = try await TestServer(agent: "openai", realtime: configuration)
        let uuid = newUUID()
        let call = Task { try await server.call(AudioSocketCallScript(uuid: uuid, caller: [], totalFrames: 150)) }
        try await RealtimeAgentTests.waitFor { fake.events("session.update").count == 1 }
        #expect(Self.elements(fake.events("session.update").first?.1["session"]?["tools"]).map { $0["name"] } == ["end_call", "get_weather", "slow_tool"])

        func output(_ callID: String) async throws -> JSONValue? {
            try await RealtimeAgentTests.waitFor { fake.events("conversation.item.create").contains { $0.1["item"]?["call_id"]?.string == callID } }
            let text = fake.events("conversation.item.create").first { $0.1["item"]?["call_id"]?.string == callID }?.1["item"]?["output"]?.string
            return text.flatMap { try? JSONParser.parse(Array($0.utf8)) }
        }
        for (index, (name, arguments)) in [("get_weather", #"{"city":"Paris"}"#), ("slow_tool", "{}"), ("nope", "{}"), ("send_dtmf", #"{"digits":"12"}"#)].enumerated() {
            fake.send(["type": "response.created", "response": ["id": .string("resp_\(index)"), "status": "in_progress"]])
            fake.send(Self.functionCall(name, callID: "call_\(index)", arguments: arguments, response: "resp_\(index)"))
            fake.send(["type": "response.done", "response": ["id": .string("resp_\(index)"), "status": "completed"]])
        }
        #expect(try await output("call_0") == ["temperature": 21, "city": "Paris", "call": .string("\(uuid)")])
        #expect(try await output("call_1") == ["ok": false, "error": "the tool did not answer within 300 ms"])
        #expect(try await output("call_2") == ["ok": false, "error": "there is no tool named nope"])
        #expect(try await output("call_3") == ["ok": false, "error": "this phone connection cannot send key presses"])
        try await RealtimeAgentTests.waitFor { fake.events("response.create").count == 4 }
        #expect(fake.events("response.create").count == 4, "the model is asked to go on after each output")
        // The two calls are posted at once: they may arrive in either order.
        #expect(Set(webhook.requests.compactMap { $0["tool"]?.string }) == ["get_weather", "slow_tool"])
        let request = webhook.requests.first { $0["tool"] == "get_weather" }
        #expect(request?["arguments"] == ["city": "Paris"] && request?["call_id"] == .string("\(uuid)"))
        #expect(request?["metadata"]?["callId"] == .string("\(uuid)"))
        _ = try await call.value
        try await server.stop()
        try await fake.stop()
        try await webhook.stop()
    }

    /// Key presses go to the model as one user text item (gathered until '#'), and it is asked
    /// to answer.
    @Test func keyPressesReachTheModelAsText() async throws {
        let fake = try await RealtimeModelStandIn()
        let server = try await TestServer(agent: "openai", realtime: RealtimeAgentTests.configuration(fake))
        let digits: [Int: UInt8] = [40: UInt8(ascii: "4"), 50: UInt8(ascii: "2"), 60: UInt8(ascii: "#")]
        _ = try await server.call(AudioSocketCallScript(uuid: newUUID(), caller: [], totalFrames: 100, dtmf: digits))
        try await RealtimeAgentTests.waitFor { !fake.events("conversation.item.create").isEmpty }
        #expect(fake.events("conversation.item.create").map { Self.elements($0.1["item"]?["content"]).first?["text"] } == ["[The caller pressed the phone keys: 4 2 #]"])
        #expect(fake.events("response.create").count == 1)
        try await server.stop()
        try await fake.stop()
    }
}

/// Key presses as the result of the model's collect_digits: type-ahead counts first, the
/// maximum ends it, and a timeout gives what there is (nothing here).
@Suite(.serialized)
struct RealtimeCollectDigitsTests {
    @Test func collectDigitsGivesTheKeysAsItsResult() async throws {
        let fake = try await RealtimeModelStandIn()
        var configuration = RealtimeAgentTests.configuration(fake)
        configuration.dtmfToModel = .tool
        let server = try await TestServer(agent: "openai", realtime: configuration)
        let digits: [Int: UInt8] = [10: UInt8(ascii: "9"), 60: UInt8(ascii: "1"), 70: UInt8(ascii: "2"), 80: UInt8(ascii: "3")]
        let call = Task { try await server.call(AudioSocketCallScript(uuid: newUUID(), caller: [], totalFrames: 150, dtmf: digits)) }
        try await RealtimeAgentTests.waitFor { fake.events("session.update").count == 1 }
        #expect(RealtimeToolsTests.elements(fake.events("session.update").first?.1["session"]?["tools"]).map { $0["name"] } == ["end_call", "collect_digits"])
        try await Task.sleep(for: .milliseconds(500))  // the 9 is typed ahead
        fake.send(RealtimeToolsTests.functionCall("collect_digits", callID: "call_a", arguments: #"{"max_digits":3,"timeout_ms":3000}"#, response: "resp_a"))

        func output(_ callID: String) async throws -> JSONValue? {
            try await RealtimeAgentTests.waitFor { fake.events("conversation.item.create").contains { $0.1["item"]?["call_id"]?.string == callID } }
            let text = fake.events("conversation.item.create").first { $0.1["item"]?["call_id"]?.string == callID }?.1["item"]?["output"]?.string
            return text.flatMap { try? JSONParser.parse(Array($0.utf8)) }
        }
        #expect(try await output("call_a") == ["digits": "912", "ended_by": "max_digits"])
        fake.send(RealtimeToolsTests.functionCall("collect_digits", callID: "call_b", arguments: #"{"timeout_ms":300}"#, response: "resp_b"))
        #expect(try await output("call_b") == ["digits": "3", "ended_by": "timeout"], "the 3 came after the maximum: typed ahead for the next call")
        #expect(!fake.events("conversation.item.create").contains { $0.1["item"]?["type"] == "message" }, "no text items in tool mode")
        _ = try await call.value
        try await server.stop()
        try await fake.stop()
    }
}

/// A tool webhook on loopback: records each request's JSON; answers get_weather with the
/// weather (and the city and call it was asked for), never answers slow_tool.
final class ToolWebhook: Sendable {
    let port: Int
    private let channel: Channel
    private let recorded = NIOLockedValueBox<[JSONValue]>([])

    var requests: [JSONValue] { recorded.withLockedValue { $0 } }

    init() async throws {
        let recorded = recorded
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(Handler(recorded: recorded))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    func stop() async throws { try await channel.close() }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let recorded: NIOLockedValueBox<[JSONValue]>
        let body = NIOLockedValueBox<[UInt8]>([])

        init(recorded: NIOLockedValueBox<[JSONValue]>) { self.recorded = recorded }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head:
                body.withLockedValue { $0 = [] }
            case .body(let buffer):
                body.withLockedValue { $0 += buffer.readableBytesView }
            case .end:
                guard let request = try? JSONParser.parse(body.withLockedValue { $0 }) else { return }
                recorded.withLockedValue { $0.append(request) }
                guard request["tool"] == "get_weather" else { return }
                let answer = JSONValue.object([("temperature", 21), ("city", request["arguments"]?["city"] ?? .null), ("call", request["call_id"] ?? .null)]).jsonText
                var head = HTTPResponseHead(version: .http1_1, status: .ok)
                head.headers.add(name: "Content-Length", value: "\(answer.utf8.count)")
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: answer)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}

/// send_dtmf on RTP: the model's digits leave as RFC 4733 events, in order.
@Suite(.serialized)
struct RealtimeToolsRTPTests {
    @Test func sendDTMFGoesOutAsTelephoneEvents() async throws {
        var options = RealtimeModelStandIn.Options()
        options.replyMilliseconds = 400
        options.toolCalls = [("send_dtmf", #"{"digits":"12#"}"#)]
        let fake = try await RealtimeModelStandIn(options: options)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = RTPServerConfiguration()
        configuration.port = 0
        configuration.call.agent = "openai"
        configuration.call.realtime = RealtimeAgentTests.configuration(fake)
        let server = try RTPServer(configuration: configuration, group: group)
        let address = try await server.start()
        let peer = UDPPeer()
        let channel = try await peer.bound(group: group)
        let speech = talk(seconds: 1, level: 12000).map { ULaw.encode($0) }
        try await pace(200) { n in
            var packet = [UInt8](repeating: 0, count: 12)
            packet.withUnsafeMutableBytes { _ = RTPHeader(payloadType: 0, sequenceNumber: UInt16(n), timestamp: UInt32(n * 160), ssrc: 0xD7).write(to: $0) }
            packet += n < 50 ? Array(speech[n * 160..<(n + 1) * 160]) : [UInt8](repeating: 0xFF, count: 160)
            var buffer = channel.allocator.buffer(capacity: packet.count)
            buffer.writeBytes(packet)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
        }
        let tools = fake.events("session.update").first?.1["session"]?["tools"]
        #expect(RealtimeToolsTests.elements(tools).map { $0["name"] } == ["end_call", "send_dtmf"], "RTP can send digits, not transfer")
        // RFC 4733 packets (payload type 101): their events, each digit once however many packets carry it.
        var events: [UInt8] = []
        for datagram in peer.received where datagram.count >= 16 && datagram[1] & 0x7F == 101 && events.last != datagram[12] {
            events.append(datagram[12])
        }
        #expect(events == [1, 2, 11], "1, 2, # in order: \(events)")
        let output = fake.events("conversation.item.create").first { $0.1["item"]?["type"] == "function_call_output" }?.1["item"]?["output"]?.string
        #expect(output.flatMap { try? JSONParser.parse(Array($0.utf8)) }?["ok"] == .bool(true))
        try await channel.close()
        await server.shutdown()
        try await group.shutdownGracefully()
        try await fake.stop()
    }
}
