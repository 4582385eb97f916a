// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeModelStandIn
import AudioBridgeProtocols
import AudioBridgeServer
import AudioBridgeSession
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOWebSocket
import Testing

final class TwilioTestServer: Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let server: TwilioServer
    let port: Int
    private let events = NIOLockedValueBox<[(String, TwilioStreamEvent)]>([])

    init(authToken: String? = nil, publicURL: String? = nil, idleSeconds: Int64 = 10, realtime: RealtimeAgentConfiguration? = nil) async throws {
        var configuration = TwilioServerConfiguration()
        if let realtime {
            configuration.call.agent = "openai"
            configuration.call.realtime = realtime
        }
        configuration.port = 0
        configuration.authToken = authToken
        configuration.publicURL = publicURL
        configuration.idleTimeoutSeconds = idleSeconds
        let events = events
        server = try TwilioServer(configuration: configuration, group: group) { sid, event in events.withLockedValue { $0.append((sid, event)) } }
        port = try await server.start().port!
    }

    func events(of sid: String) -> [TwilioStreamEvent] { events.withLockedValue { $0.filter { $0.0 == sid }.map(\.1) } }

    func sessionEvents(_ kind: SessionEvent.Kind, of sid: String) -> [SessionEvent] {
        events(of: sid).compactMap { if case .session(let event) = $0, event.kind == kind { return event } else { return nil } }
    }

    func stop() async throws {
        await server.shutdown()
        try await group.shutdownGracefully()
    }
}

@Suite(.serialized)
struct TwilioServerTests {
    static let callForm = [("CallSid", "CA1234"), ("From", "+14158675309"), ("To", "+18005551212"), ("Direction", "inbound")]

    @Test func voiceWebhookAnswersConnectStreamTwiML() async throws {
        let server = try await TwilioTestServer(publicURL: "https://bridge.example.com")
        let (status, body) = try await TwilioTestClient.post(port: server.port, path: TwilioServer.voicePath, form: Self.callForm, signature: nil, group: server.group)
        #expect(status == 200)
        #expect(body == TwilioWebhook.connectStream(url: "wss://bridge.example.com/twilio/media",
                                                    parameters: [("caller", "+14158675309"), ("callSid", "CA1234"), ("direction", "inbound")]))
        let (outboundStatus, outbound) = try await TwilioTestClient.post(port: server.port, path: TwilioServer.outboundPath + "?purpose=renewal%20reminder",
                                                                         form: Self.callForm, signature: nil, group: server.group)
        #expect(outboundStatus == 200)
        #expect(outbound.contains(#"<Parameter name="caller" value="+18005551212"/>"#), "an outbound call's other party is the To number")
        #expect(outbound.contains(#"<Parameter name="direction" value="outbound"/><Parameter name="purpose" value="renewal reminder"/>"#))
        let (missing, _) = try await TwilioTestClient.post(port: server.port, path: "/elsewhere", form: [], signature: nil, group: server.group)
        #expect(missing == 404)
        try await server.stop()
    }

    /// With a token, only requests signed over the public URL and the sorted form pass.
    @Test func signedWebhooksOnlyWhenATokenIsConfigured() async throws {
        let server = try await TwilioTestServer(authToken: "12345", publicURL: "https://bridge.example.com")
        let url = "https://bridge.example.com" + TwilioServer.voicePath
        let good = TwilioSignature.compute(authToken: "12345", url: url, parameters: Self.callForm)
        #expect(try await TwilioTestClient.post(port: server.port, path: TwilioServer.voicePath, form: Self.callForm, signature: good, group: server.group).0 == 200)
        #expect(try await TwilioTestClient.post(port: server.port, path: TwilioServer.voicePath, form: Self.callForm, signature: nil, group: server.group).0 == 403)
        let wrongToken = TwilioSignature.compute(authToken: "54321", url: url, parameters: Self.callForm)
        #expect(try await TwilioTestClient.post(port: server.port, path: TwilioServer.voicePath, form: Self.callForm, signature: wrongToken, group: server.group).0 == 403)
        let tampered = Self.callForm.map { $0.0 == "From" ? ("From", "+10000000000") : $0 }
        #expect(try await TwilioTestClient.post(port: server.port, path: TwilioServer.voicePath, form: tampered, signature: good, group: server.group).0 == 403)
        #expect(server.server.snapshot.rejectedWebhooks == 3)
        #expect(server.server.snapshot.webhooks == 1)
        try await server.stop()
    }

    /// Caller speech goes through the echo agent and comes back as paced `media`; the item is
    /// followed by a mark, whose echo is reported; DTMF becomes an event; parameters arrive.
    @Test func streamEchoesTheCallerWithMarksAndDTMF() async throws {
        let server = try await TwilioTestServer()
        let said = talk(seconds: 1.5)
        let result = try await TwilioTestClient.stream(port: server.port, streamSid: "MZ1", caller: said, frames: 300, dtmf: [20: "7"],
                                                       parameters: [("caller", "+14158675309"), ("purpose", "demo")], group: server.group)
        #expect(result.received.count >= 240 * 160, "one media message per 20 ms: \(result.received.count / 160)")
        let best = bestCorrelation(of: Array(said[2000..<8000]), in: result.received, from: 9000)
        #expect(best > 0.9, "the echo is the caller's speech (through μ-law twice): \(best)")
        let finished = server.sessionEvents(.playoutFinished, of: "MZ1")
        #expect(finished.count == 1)
        #expect(result.marks == finished.map { "item-\($0.item)" })
        // playoutFinished is reported when the echo arrives, right before the echo itself.
        let events = server.events(of: "MZ1")
        let echoAt = events.firstIndex(of: .markPlayed(name: "item-\(finished.first?.item ?? 0)"))
        #expect(echoAt.map { $0 > 0 && events[$0 - 1] == finished.first.map { .session($0) } } == true)
        #expect(server.sessionEvents(.dtmf, of: "MZ1").map(\.digit) == [UInt8(ascii: "7")])
        guard case .started(let start)? = server.events(of: "MZ1").first else { Issue.record("no start"); return try await server.stop() }
        #expect(start.customParameters.map(\.0) == ["caller", "purpose"] && start.customParameters.map(\.1) == ["+14158675309", "demo"])
        #expect(server.server.snapshot.protocolErrors == 0)
        try await server.stop()
    }

    /// Talking over the echo: the session cuts its playout and Twilio gets `clear` at once.
    @Test func bargeInSendsClear() async throws {
        let server = try await TwilioTestServer()
        let caller = talk(seconds: 2) + [Int16](repeating: 0, count: 12000) + talk(seconds: 1, level: 16000, seed: 1)
        let result = try await TwilioTestClient.stream(port: server.port, streamSid: "MZ2", caller: caller, frames: 250, group: server.group)
        let cuts = server.sessionEvents(.bargeIn, of: "MZ2")
        #expect(cuts.count >= 1)
        #expect(result.clears.count == cuts.count)
        #expect(server.server.snapshot.flushes == cuts.count)
        // Nothing of the cut item plays after the clear (beyond the fade in the same frame).
        if let clearedAt = result.clears.first {
            // (Half a second: after that the echo of the caller's barge-in words may begin.)
            let after = result.received[min(result.received.count, clearedAt + 160)...].prefix(4000)
            #expect(after.allSatisfy { abs(Int($0)) < 64 }, "silence after the clear")
        }
        try await server.stop()
    }

    /// Malformed JSON, a binary frame, media before start, an unknown format: each stream is
    /// closed with a protocol error; unknown events are counted and ignored.
    @Test func misbehavingStreamsAreClosed() async throws {
        let server = try await TwilioTestServer()
        let good = Task { try await TwilioTestClient.stream(port: server.port, streamSid: "MZgood", caller: talk(seconds: 1), frames: 100, group: server.group) }
        let bad = [
            "{\"event\":\"media\"",
            #"{"event":"media","media":{"payload":"AAAA"}}"#,
            #"{"event":"start","start":{"streamSid":"MZx","mediaFormat":{"encoding":"audio/l16","sampleRate":16000,"channels":1}}}"#,
            #"{"event":"media","media":{"payload":"not base64!"}}"#,
        ]
        for text in bad {
            let result = try await TwilioTestClient.stream(port: server.port, streamSid: "MZbad", caller: [], frames: 0, rawFirst: text, group: server.group)
            #expect(result.closedByServer, "\(text)")
            #expect(result.closeCode == .unacceptableData, "\(text)")
        }
        _ = try await TwilioTestClient.stream(port: server.port, streamSid: "MZunknown", caller: [], frames: 0, rawFirst: #"{"event":"somethingNew"}"#, group: server.group)
        // A message over the 64 KiB frame limit: refused by the WebSocket layer (1009).
        let huge = #"{"event":"media","media":{"payload":""# + String(repeating: "A", count: 100_000) + #""}}"#
        let oversize = try await TwilioTestClient.stream(port: server.port, streamSid: "MZhuge", caller: [], frames: 0, rawFirst: huge, group: server.group)
        #expect(oversize.closedByServer && oversize.closeCode == .messageTooLarge)
        let goodResult = try await good.value
        #expect(goodResult.received.count >= 95 * 160, "the good stream kept its frames")
        #expect(!goodResult.closedByServer)
        // The oversize frame is counted as NIO reports it, just after its close frame went out.
        for _ in 0..<200 where server.server.snapshot.protocolErrors < bad.count + 1 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(server.server.snapshot.protocolErrors == bad.count + 1, "each bad stream and the oversize frame counted")
        #expect(server.server.snapshot.ignoredMessages == 1)
        try await server.stop()
    }

    /// Twilio's μ-law meets the model's μ-law: the bridge passes G.711 through both ways, so the
    /// caller gets exactly the bytes the model sent.
    @Test func openAIOverTwilioPassesG711Through() async throws {
        let fake = try await RealtimeModelStandIn()
        var realtime = RealtimeAgentConfiguration()
        realtime.url = fake.url
        realtime.apiKey = "sk-test"
        let server = try await TwilioTestServer(realtime: realtime)
        let stream = Task {
            try await TwilioTestClient.stream(port: server.port, streamSid: "MZai", caller: [], frames: 100,
                                              parameters: [("caller", "+14158675309"), ("purpose", "renewal")], group: server.group)
        }
        for _ in 0..<300 where fake.events("session.update").isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        let update = fake.events("session.update").first?.1["session"]
        #expect(update?["audio"]?["output"]?["format"] == ["type": "audio/pcmu"])
        #expect(update?["instructions"]?.string?.hasSuffix("Call context: caller=+14158675309, purpose=renewal") == true,
                "the stream parameters reach the model: \(update?["instructions"]?.string ?? "-")")
        // Half a second of a μ-law tone from the model.
        let pcm = (0..<4000).map { Int16(6000 * sin(2 * Double.pi * 500 * Double($0) / 8000)) }
        var model = [UInt8](repeating: 0, count: pcm.count)
        pcm.withUnsafeBufferPointer { input in model.withUnsafeMutableBufferPointer { _ = ULaw.encode(input, into: $0) } }
        fake.respond(response: "r1", item: "i1", audio: model, chunk: 800)
        let result = try await stream.value
        var expected = [Int16](repeating: 0, count: model.count)
        model.withUnsafeBufferPointer { codes in expected.withUnsafeMutableBufferPointer { _ = ULaw.decode(codes, into: $0) } }
        guard let first = result.received.firstIndex(where: { $0 != 0 && $0 != expected.first }) ?? result.received.firstIndex(where: { $0 != 0 }) else {
            Issue.record("no model audio reached the caller: \(result.received.count) samples, events \(server.events(of: "MZai"))"); return
        }
        let start = max(0, first - 1)
        #expect(Array(result.received[start..<min(result.received.count, start + expected.count)]) == expected, "bit-exact passthrough")
        // The caller's μ-law went to the model as μ-law: 100 frames of 160 bytes.
        #expect(fake.appendedAudio.count >= 95 * 160 && fake.appendedAudio.count <= 100 * 160)
        try await server.stop()
        try await fake.stop()
    }

    /// The whole path: a Twilio caller talks over the model. Twilio gets `clear`; the model gets
    /// `response.cancel` and a truncate at what the caller heard — the session's heard position,
    /// and (±20 ms) the model audio the Twilio client actually received before the clear.
    @Test func bargeInOverTwilioClearsTwilioAndTruncatesTheModel() async throws {
        let fake = try await RealtimeModelStandIn()
        var realtime = RealtimeAgentConfiguration()
        realtime.url = fake.url
        realtime.apiKey = "sk-test"
        let server = try await TwilioTestServer(realtime: realtime)
        let caller = [Int16](repeating: 0, count: 12000) + talk(seconds: 1, level: 12000, seed: 1)
        let stream = Task { try await TwilioTestClient.stream(port: server.port, streamSid: "MZcut", caller: caller, frames: 150, group: server.group) }
        for _ in 0..<300 where fake.events("session.update").isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        let pcm = (0..<40000).map { Int16(3000 * sin(2 * Double.pi * 300 * Double($0) / 8000)) }
        var model = [UInt8](repeating: 0, count: pcm.count)
        pcm.withUnsafeBufferPointer { input in model.withUnsafeMutableBufferPointer { _ = ULaw.encode(input, into: $0) } }
        fake.respond(response: "r1", item: "i1", audio: model, chunk: 1600, done: false)
        let result = try await stream.value
        for _ in 0..<100 where fake.events("conversation.item.truncate").isEmpty { try await Task.sleep(for: .milliseconds(10)) }

        let cuts = server.sessionEvents(.bargeIn, of: "MZcut")
        #expect(cuts.count == 1)
        #expect(result.clears.count == 1)
        #expect(fake.events("response.cancel").count == 1)
        let end = fake.events("conversation.item.truncate").first?.1["audio_end_ms"]?.int
        #expect(end == cuts.first.map { Int($0.heardMilliseconds) })
        // What the Twilio client received of the item before the clear, in ms.
        let firstAudio = result.received.firstIndex { $0 != 0 } ?? 0
        let heardByClient = ((result.clears.first ?? 0) - firstAudio) / 8
        #expect(abs((end ?? -1000) - heardByClient) <= 20, "truncated at \(end ?? -1) ms, the client heard \(heardByClient) ms")
        try await server.stop()
        try await fake.stop()
    }
}
