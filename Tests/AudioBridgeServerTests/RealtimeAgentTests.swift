// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeModelStandIn
import AudioBridgeProtocols
import AudioBridgeServer
import AudioBridgeSession
import Foundation
import NIOCore
import Testing

/// `--agent openai` end to end on loopback: an AudioSocket caller, the bridge, and a fake
/// Realtime server in the model's place.
@Suite(.serialized)
struct RealtimeAgentTests {
    static func configuration(_ fake: RealtimeModelStandIn) -> RealtimeAgentConfiguration {
        var configuration = RealtimeAgentConfiguration()
        configuration.url = fake.url
        configuration.apiKey = "sk-test-key"
        configuration.settings.instructions = "Be brief."
        return configuration
    }

    /// PCM16 24 kHz little-endian bytes of a sine.
    static func tone(milliseconds: Int, frequency: Double = 440, amplitude: Double = 3000) -> [UInt8] {
        (0..<(24 * milliseconds)).flatMap { n -> [UInt8] in
            let sample = Int16(amplitude * sin(2 * .pi * frequency * Double(n) / 24000))
            return [UInt8(truncatingIfNeeded: sample), UInt8(truncatingIfNeeded: sample >> 8)]
        }
    }

    /// 20 ms frames of `received` louder than silence.
    static func loudFrames(_ received: [Int16]) -> Int {
        stride(from: 0, to: received.count - 159, by: 160).filter { start in received[start..<start + 160].contains { abs(Int($0)) > 500 } }.count
    }

    /// Waits until `condition` holds, at most 5 s.
    static func waitFor(_ condition: () -> Bool) async throws {
        for _ in 0..<500 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func modelAudioReachesTheCallerAndCallerAudioReachesTheModel() async throws {
        let fake = try await RealtimeModelStandIn()
        let server = try await TestServer(agent: "openai", realtime: Self.configuration(fake))
        let uuid = newUUID()
        // The caller speaks first; the model answers once it has 1.5 s of caller audio, when the
        // caller is quiet, so nothing interrupts the answer however loaded the machine is.
        let call = Task { try await server.call(AudioSocketCallScript(uuid: uuid, caller: talk(seconds: 1), totalFrames: 250)) }
        try await Self.waitFor { fake.events("input_audio_buffer.append").count >= 75 }  // 75 frames of 20 ms
        fake.respond(response: "resp_1", item: "item_1", audio: Self.tone(milliseconds: 1000), chunk: 4800)
        let result = try await call.value

        #expect(abs(Self.loudFrames(result.received) - 50) <= 2, "1 s of model audio, all of it: \(Self.loudFrames(result.received)) frames")
        let update = fake.events("session.update").first?.1["session"]
        #expect(update?["audio"]?["input"]?["format"] == ["type": "audio/pcm", "rate": 24000], "AudioSocket is slin: PCM16 24 kHz to the model")
        #expect(update?["instructions"]?.string == "Be brief.\n\nCall context: callId=\(uuid)", "the call's id reaches the model")
        #expect(fake.requestHeaders.first?.first(name: "Authorization") == "Bearer sk-test-key")
        // 250 frames of caller audio at 24 kHz (960 bytes each), all of it (or nearly: the last may be in flight).
        #expect(fake.appendedAudio.count >= 235 * 960, "caller audio appended: \(fake.appendedAudio.count) bytes")
        #expect(server.events(.playoutFinished, of: uuid).count == 1)
        try await server.stop()
        try await fake.stop()
    }

    /// A conversation with the stand-in answering on its own: it hears each caller turn end
    /// (its VAD on the appended audio) and streams a 2 s reply at four times real time. The
    /// caller talks over the first reply while it is still streaming — cancelled, and truncated
    /// where the session says the caller stopped hearing it — then lets the second one finish.
    @Test func standInConversationWithBargeIn() async throws {
        var options = RealtimeModelStandIn.Options()
        options.replyMilliseconds = 2000
        let fake = try await RealtimeModelStandIn(options: options)
        let server = try await TestServer(agent: "openai", realtime: Self.configuration(fake))
        let uuid = newUUID()
        // talk 1 s · quiet 0.6 s (reply 1 starts after 0.4 s) · talk 0.6 s · quiet (reply 2)
        let caller = talk(seconds: 1) + [Int16](repeating: 0, count: 4800) + talk(seconds: 0.6, seed: 1)
        let result = try await server.call(AudioSocketCallScript(uuid: uuid, caller: caller, totalFrames: 300))
        try await Self.waitFor { !fake.events("conversation.item.truncate").isEmpty }

        #expect(fake.events("response.cancel").count == 1, "the first reply is cancelled")
        let cuts = server.events(.bargeIn, of: uuid).filter { $0.heardMilliseconds > 0 }
        #expect(cuts.count == 1)
        let truncate = fake.events("conversation.item.truncate").first?.1
        #expect(truncate?["item_id"]?.string == "item_standin_1")
        #expect(truncate?["audio_end_ms"]?.int == cuts.first.map { Int($0.heardMilliseconds) })
        #expect((truncate?["audio_end_ms"]?.int ?? 0) > 50 && (truncate?["audio_end_ms"]?.int ?? 2000) < 1000, "cut while it played")
        #expect(fake.events("response.create").isEmpty, "server VAD: the stand-in answers on its own")
        #expect(server.events(.playoutFinished, of: uuid).count == 1, "the second reply played to its end")
        #expect(Self.loudFrames(result.received) >= 100, "reply 2 (2 s) and part of reply 1 reached the caller: \(Self.loudFrames(result.received))")
        try await server.stop()
        try await fake.stop()
    }

    /// One call's model misbehaves — malformed JSON, bad base64 audio, an unknown event, a binary
    /// message, then a message over the size limit. Each unreadable message is a transportError
    /// (protocolViolation) event and is skipped; the oversize one costs the connection, which is
    /// re-established. The call keeps its audio both ways, and the other call notices nothing.
    @Test func misbehavingModelDoesNotEndCalls() async throws {
        let fake = try await RealtimeModelStandIn()
        var configuration = Self.configuration(fake)
        configuration.maximumMessageBytes = 64 * 1024
        configuration.reconnectMinimumMilliseconds = 100
        let server = try await TestServer(agent: "openai", realtime: configuration)
        let (calm, troubled) = (newUUID(), newUUID())
        let calmCall = Task { try await server.call(AudioSocketCallScript(uuid: calm, caller: [], totalFrames: 250)) }
        try await Self.waitFor { fake.events("session.update").count == 1 }
        let troubledCall = Task { try await server.call(AudioSocketCallScript(uuid: troubled, caller: [], totalFrames: 250)) }
        try await Self.waitFor { fake.events("session.update").count == 2 }
        fake.respond(response: "resp_calm", item: "item_calm", audio: Self.tone(milliseconds: 500), chunk: 4800, connection: 0)

        fake.sendText("{not json", connection: 1)
        fake.sendText(#"{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"!!!!"}"#, connection: 1)
        fake.sendText(#"{"type":"rate_limits.updated","rate_limits":[]}"#, connection: 1)
        fake.sendBinary([1, 2, 3], connection: 1)
        fake.respond(response: "resp_1", item: "item_1", audio: Self.tone(milliseconds: 500), chunk: 4800, connection: 1)
        try await Task.sleep(for: .milliseconds(800))
        fake.sendText(#"{"type":"response.output_audio.delta","delta":""# + String(repeating: "A", count: 100_000) + #""}"#, connection: 1)
        try await Self.waitFor { fake.events("session.update").count == 3 }
        #expect(fake.events("session.update").map(\.0) == [0, 1, 2], "the troubled call reconnected on a new connection")
        fake.respond(response: "resp_2", item: "item_2", audio: Self.tone(milliseconds: 500), chunk: 4800, connection: 2)
        let (calmResult, troubledResult) = (try await calmCall.value, try await troubledCall.value)

        let violation = AudioBridgeError.protocolViolation.code
        #expect(server.events(.transportError, of: troubled).filter { $0.code == violation }.count == 4,
                "JSON, base64, binary and the oversize message: \(server.events(.transportError, of: troubled).map(\.code))")
        #expect(server.events(.transportDisconnected, of: troubled).count == 1)
        #expect(server.events(.transportConnected, of: troubled).count == server.events(.transportConnected, of: calm).count + 1, "one reconnect")
        #expect(Self.loudFrames(troubledResult.received) >= 48, "both responses reached the troubled caller: \(Self.loudFrames(troubledResult.received))")
        #expect(server.events(.transportError, of: calm).isEmpty && server.events(.transportDisconnected, of: calm).isEmpty)
        #expect(abs(Self.loudFrames(calmResult.received) - 25) <= 2, "the calm call: its response, nothing else")
        // Counted in audio, not messages: what the bridge held while connecting goes in one append.
        let calmAudio = fake.events("input_audio_buffer.append").filter { $0.0 == 0 }
            .reduce(0) { $0 + ((try? Base64.decode($1.1["audio"]?.string ?? "")) ?? []).count }
        #expect(calmAudio >= 245 * 960, "the calm call's audio kept flowing: \(calmAudio / 960) frames of 24 kHz PCM16")
        try await server.stop()
        try await fake.stop()
    }

    /// The caller talks over the model: its audio stops, the response is cancelled and the item
    /// truncated at exactly the heard position the session reported.
    @Test func bargeInCancelsAndTruncatesAtTheHeardPosition() async throws {
        let fake = try await RealtimeModelStandIn()
        let server = try await TestServer(agent: "openai", realtime: Self.configuration(fake))
        let caller = [Int16](repeating: 0, count: 12000) + talk(seconds: 1, level: 12000, seed: 1)
        let uuid = newUUID()
        let call = Task { try await server.call(AudioSocketCallScript(uuid: uuid, caller: caller, totalFrames: 175)) }
        try await Self.waitFor { !fake.events("session.update").isEmpty }
        fake.respond(response: "resp_1", item: "item_1", audio: Self.tone(milliseconds: 5000), chunk: 9600, done: false)
        let result = try await call.value

        let cuts = server.events(.bargeIn, of: uuid)
        #expect(cuts.count == 1)
        try await Self.waitFor { !fake.events("conversation.item.truncate").isEmpty }
        #expect(fake.events("response.cancel").count == 1)
        let truncate = fake.events("conversation.item.truncate").first?.1
        #expect(truncate?["item_id"] == "item_1")
        #expect(truncate?["audio_end_ms"]?.int == cuts.first.map { Int($0.heardMilliseconds) }, "the heard position, exactly")
        #expect(Self.loudFrames(result.received) < 120, "the 5 s response stopped early")
        try await server.stop()
        try await fake.stop()
    }

    /// Server turn detection: with our own detector switched off, the server's speech_started
    /// alone cuts local playout, and the item is truncated at the heard position.
    @Test func serverSpeechStartedCutsPlayout() async throws {
        let fake = try await RealtimeModelStandIn()
        let server = try await TestServer(agent: "openai", realtime: Self.configuration(fake), localBargeIn: false)
        let uuid = newUUID()
        let caller = [Int16](repeating: 0, count: 12000) + talk(seconds: 1, level: 12000, seed: 1)
        let call = Task { try await server.call(AudioSocketCallScript(uuid: uuid, caller: caller, totalFrames: 175)) }
        try await Self.waitFor { !fake.events("session.update").isEmpty }
        fake.respond(response: "resp_1", item: "item_1", audio: Self.tone(milliseconds: 5000), chunk: 9600, done: false)
        let result = try await call.value
        try await Self.waitFor { !fake.events("conversation.item.truncate").isEmpty }
        let cuts = server.events(.bargeIn, of: uuid)
        #expect(cuts.count == 1)
        #expect(cuts.first?.code == SessionEvent.BargeInCause.interruptRequest.rawValue, "cut by the server's VAD, not ours")
        #expect(fake.events("conversation.item.truncate").first?.1["audio_end_ms"]?.int == cuts.first.map { Int($0.heardMilliseconds) })
        #expect(Self.loudFrames(result.received) < 120, "the 5 s response stopped early")
        try await server.stop()
        try await fake.stop()
    }

    /// The model sends 4 s of audio at once while at most 300 ms may wait in the agent: the
    /// socket is read as playout makes room, and the caller hears every frame of it.
    @Test func fastModelAudioIsPacedNotDropped() async throws {
        let fake = try await RealtimeModelStandIn()
        var configuration = Self.configuration(fake)
        configuration.maximumQueuedDownlinkMilliseconds = 300
        let server = try await TestServer(agent: "openai", realtime: configuration)
        let uuid = newUUID()
        let call = Task { try await server.call(AudioSocketCallScript(uuid: uuid, caller: [], totalFrames: 275)) }
        try await Self.waitFor { !fake.events("session.update").isEmpty }
        fake.respond(response: "resp_1", item: "item_1", audio: Self.tone(milliseconds: 4000), chunk: 2400)
        let result = try await call.value
        #expect(abs(Self.loudFrames(result.received) - 200) <= 2, "4 s heard: \(Self.loudFrames(result.received)) frames")
        #expect(server.events(.playoutFinished, of: uuid).count == 1)
        try await server.stop()
        try await fake.stop()
    }

    /// The model drops the first connection: the agent reconnects, the caller hears the fallback
    /// meanwhile, and the caller audio of the gap is sent on the new connection.
    @Test func reconnectsWithFallbackAudioAndKeepsCallerAudio() async throws {
        let fake = try await RealtimeModelStandIn()
        fake.dropNextConnections(1)
        var configuration = Self.configuration(fake)
        configuration.reconnectMinimumMilliseconds = 700  // long enough to hear the whole 400 ms fallback
        let server = try await TestServer(agent: "openai", realtime: configuration)
        let uuid = newUUID()
        // Quiet first (speech over the fallback would cut it), then talk.
        let caller = [Int16](repeating: 0, count: 8000) + talk(seconds: 1)
        let result = try await server.call(AudioSocketCallScript(uuid: uuid, caller: caller, totalFrames: 100))
        #expect(fake.connectionCount == 2)
        #expect(fake.events("session.update").map(\.0) == [0, 1])
        #expect(server.events(.transportDisconnected, of: uuid).count == 1)
        // One when the engine attached the agent, then one per model connection.
        #expect(server.events(.transportConnected, of: uuid).count == 3)
        #expect(Self.loudFrames(Array(result.received.prefix(8000))) >= 10, "the 400 ms fallback tone while disconnected")
        #expect(fake.appendedAudio.count >= 90 * 960, "no caller audio lost across the reconnect: \(fake.appendedAudio.count) bytes")
        try await server.stop()
        try await fake.stop()
    }

    /// Local turn detection: server VAD off in session.update; when our detector hears the
    /// caller stop, the bridge commits the input and asks for a response.
    @Test func localTurnDetectionCommitsAndRequestsAResponse() async throws {
        let fake = try await RealtimeModelStandIn()
        var configuration = Self.configuration(fake)
        configuration.localTurnDetection = true
        let server = try await TestServer(agent: "openai", realtime: configuration)
        let uuid = newUUID()
        _ = try await server.call(AudioSocketCallScript(uuid: uuid, caller: talk(seconds: 1), totalFrames: 100))
        #expect(fake.events("session.update").first?.1["session"]?["audio"]?["input"]?["turn_detection"] == .null)
        #expect(server.events(.speechStopped, of: uuid).count == 1)
        #expect(fake.events("input_audio_buffer.commit").count == 1)
        #expect(fake.events("response.create").count == 1)
        try await server.stop()
        try await fake.stop()
    }

    /// wss:// end to end: a self-signed certificate made for 127.0.0.1 by the openssl command,
    /// trusted through the configuration; an untrusted one is refused (the agent keeps retrying).
    @Test func connectsOverTLS() async throws {
        let (certificate, key) = try Self.selfSignedCertificate()
        var options = RealtimeModelStandIn.Options()
        options.certificatePEM = certificate
        options.keyPEM = key
        let fake = try await RealtimeModelStandIn(options: options)
        #expect(fake.url.hasPrefix("wss://"))
        var configuration = Self.configuration(fake)
        configuration.additionalTrustRootsPEM = certificate
        let server = try await TestServer(agent: "openai", realtime: configuration)
        let uuid = newUUID()
        let call = Task { try await server.call(AudioSocketCallScript(uuid: uuid, caller: [], totalFrames: 100)) }
        try await Self.waitFor { !fake.events("session.update").isEmpty }
        fake.respond(response: "resp_1", item: "item_1", audio: Self.tone(milliseconds: 500), chunk: 4800)
        let result = try await call.value
        // (The fallback tone may play while the handshake runs: count the model's item by its events.)
        #expect(Self.loudFrames(result.received) >= 23, "500 ms of model audio over TLS")
        #expect(server.events(.playoutFinished, of: uuid).contains { $0.item >= 1 << 32 }, "the model's item played to its end")
        try await server.stop()

        // Without trusting the certificate the handshake fails: no session.update ever arrives.
        var untrusted = Self.configuration(fake)
        untrusted.reconnectMinimumMilliseconds = 100
        let before = fake.events("session.update").count
        let strict = try await TestServer(agent: "openai", realtime: untrusted)
        _ = try await strict.call(AudioSocketCallScript(uuid: newUUID(), caller: [], totalFrames: 25))
        #expect(fake.events("session.update").count == before)
        try await strict.stop()
        try await fake.stop()
    }

    /// A key and a certificate for 127.0.0.1, valid for a day, from the openssl command.
    static func selfSignedCertificate() throws -> (certificate: [UInt8], key: [UInt8]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audiobridge-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("key.pem"), certificate = directory.appendingPathComponent("cert.pem")
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key.path, "-out", certificate.path]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        return (Array(try Data(contentsOf: certificate)), Array(try Data(contentsOf: key)))
    }
}

