// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeModelStandIn
import AudioBridgeProtocols
@testable import AudioBridgeServer
import AudioBridgeSession
import NIOPosix
import Testing

/// `--agent openai` across a dropped model connection: what the caller already has keeps
/// playing, ids stay with the connection that made them, and the new connection is told the
/// conversation so far.
@Suite(.serialized)
struct RealtimeReconnectTests {
    /// The answer (3 s, all of it received) is still playing when the connection drops without a
    /// close frame: the caller hears all of it, nothing is cut or cleared, the fallback never
    /// plays, and the new connection gets both turns as text items right after its session.update.
    @Test func aDropAfterAFinishedAnswerLosesNothing() async throws {
        let fake = try await RealtimeModelStandIn()
        let server = try await TestServer(agent: "openai", realtime: RealtimeAgentTests.configuration(fake))
        let uuid = newUUID()
        let call = Task { try await server.call(AudioSocketCallScript(uuid: uuid, caller: [], totalFrames: 250)) }
        try await RealtimeAgentTests.waitFor { fake.events("session.update").count == 1 }
        fake.send(["type": "conversation.item.input_audio_transcription.completed", "item_id": "item_c1", "content_index": 0,
                   "transcript": " I need a taxi to the station. "], connection: 0)
        fake.respond(response: "resp_1", item: "item_1", audio: RealtimeAgentTests.tone(milliseconds: 3000), chunk: 4800, connection: 0)
        fake.send(["type": "response.output_audio_transcript.done", "response_id": "resp_1", "item_id": "item_1", "output_index": 0,
                   "content_index": 0, "transcript": "Sure. Where are you now?"], connection: 0)
        try await Task.sleep(for: .milliseconds(500))
        fake.dropConnection(0)
        try await RealtimeAgentTests.waitFor { fake.events("session.update").count == 2 }
        let result = try await call.value

        #expect(server.events(.bargeIn, of: uuid).isEmpty, "a drop is not a barge-in: nothing cut, no clear")
        #expect(abs(RealtimeAgentTests.loudFrames(result.received) - 150) <= 2, "the whole 3 s answer: \(RealtimeAgentTests.loudFrames(result.received)) frames")
        #expect(server.events(.playoutFinished, of: uuid).filter { $0.item >= AgentFallback.firstNetworkItem }.count == 1, "played to its end")
        #expect(fake.events("conversation.item.truncate").isEmpty && fake.events("response.cancel").isEmpty)
        #expect(fake.events("session.update").first?.1["session"]?["audio"]?["input"]?["transcription"] == ["model": "gpt-4o-mini-transcribe"])
        let second = fake.eventsInOrder(connection: 1).map { $0["type"]?.string ?? "" }
        #expect(Array(second.prefix(3)) == ["session.update", "conversation.item.create", "conversation.item.create"], "\(second.prefix(4))")
        let items = fake.events("conversation.item.create").map(\.1["item"])
        #expect(items == [["type": "message", "role": "user", "content": [["type": "input_text", "text": "I need a taxi to the station."]]],
                          ["type": "message", "role": "assistant", "content": [["type": "output_text", "text": "Sure. Where are you now?"]]]])
        try await server.stop()
        try await fake.stop()
    }

    /// The connection drops in the middle of a 5 s answer; the caller then talks over what is
    /// still playing. The cut is carried out locally (playout stops) and nothing about the old
    /// item reaches the new connection, which reuses the same item id for its own answer — and
    /// that answer plays.
    @Test func aCutOfAnItemFromADroppedConnectionStaysLocal() async throws {
        let fake = try await RealtimeModelStandIn()
        let server = try await TestServer(agent: "openai", realtime: RealtimeAgentTests.configuration(fake))
        let uuid = newUUID()
        let caller = [Int16](repeating: 0, count: 12800) + talk(seconds: 1, level: 12000, seed: 1)
        let call = Task { try await server.call(AudioSocketCallScript(uuid: uuid, caller: caller, totalFrames: 275)) }
        try await RealtimeAgentTests.waitFor { fake.events("session.update").count == 1 }
        fake.respond(response: "resp_1", item: "item_1", audio: RealtimeAgentTests.tone(milliseconds: 5000), chunk: 9600, done: false, connection: 0)
        try await Task.sleep(for: .milliseconds(400))
        fake.dropConnection(0, code: 1011, reason: "overloaded")
        try await RealtimeAgentTests.waitFor { fake.events("session.update").count == 2 }
        try await RealtimeAgentTests.waitFor { !server.events(.speechStopped, of: uuid).isEmpty }
        fake.respond(response: "resp_1", item: "item_1", audio: RealtimeAgentTests.tone(milliseconds: 600, frequency: 300), chunk: 4800, connection: 1)
        let result = try await call.value

        let cuts = server.events(.bargeIn, of: uuid).filter { $0.item >= AgentFallback.firstNetworkItem }
        #expect(cuts.count == 1, "the old answer is cut once: \(server.events(.bargeIn, of: uuid))")
        #expect(fake.events("conversation.item.truncate").isEmpty, "never asked of a connection that does not have the item")
        #expect(fake.events("response.cancel").isEmpty, "the old response died with its connection")
        #expect(fake.staleItemRefusals == 0)
        let finished = server.events(.playoutFinished, of: uuid).filter { $0.item >= AgentFallback.firstNetworkItem }
        #expect(finished.count == 1 && finished.first?.item != cuts.first?.item, "the new connection's item_1 is its own, and plays to its end")
        #expect(RealtimeAgentTests.loudFrames(result.received) < 150, "the 5 s answer stopped early")
        try await server.stop()
        try await fake.stop()
    }
}

/// What the caller hears while a call's first connection is made: nothing for up to a second
/// (a beep cut by a clear at the start of every call would be noise), the fallback at once when
/// the connection fails.
@Suite(.serialized)
struct RealtimeFallbackStartTests {
    static func firstLoudFrame(_ received: [Int16]) -> Int? {
        stride(from: 0, to: received.count - 159, by: 160).first { start in received[start..<start + 160].contains { abs(Int($0)) > 500 } }.map { $0 / 160 }
    }

    @Test func aRefusedConnectionStartsTheFallbackAtOnce() async throws {
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress!.port!
        try await probe.close()
        var configuration = RealtimeAgentConfiguration()
        configuration.url = "ws://127.0.0.1:\(port)/v1/realtime"
        let server = try await TestServer(agent: "openai", realtime: configuration)
        let result = try await server.call(AudioSocketCallScript(uuid: newUUID(), caller: [], totalFrames: 60))
        let first = Self.firstLoudFrame(result.received)
        #expect(first != nil && first! < 15, "the fallback within 300 ms: frame \(String(describing: first))")
        try await server.stop()
    }

    @Test func aSlowFirstConnectionGetsASecondOfSilenceFirst() async throws {
        // Accepts TCP and never answers the upgrade.
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        var configuration = RealtimeAgentConfiguration()
        configuration.url = "ws://127.0.0.1:\(silent.localAddress!.port!)/v1/realtime"
        let server = try await TestServer(agent: "openai", realtime: configuration)
        let result = try await server.call(AudioSocketCallScript(uuid: newUUID(), caller: [], totalFrames: 100))
        let first = Self.firstLoudFrame(result.received)
        #expect(first != nil && (48...75).contains(first!), "the fallback after about a second: frame \(String(describing: first))")
        try await server.stop()
        try await silent.close()
    }
}

/// The conversation kept for a new connection.
struct ConversationTranscriptTests {
    @Test func keepsTurnsInOrderAndDropsTheOldestPastItsBound() {
        var transcript = ConversationTranscript(maximumCharacters: 20)
        transcript.add(.caller, "  hello  ")
        transcript.add(.agent, "", item: "1/a")
        transcript.add(.agent, "hi there", item: "1/a")
        #expect(transcript.turns.map(\.text) == ["hello", "hi there"])
        transcript.add(.caller, "a longer question")
        #expect(transcript.turns.map(\.text) == ["a longer question"], "13 + 17 > 20: the two oldest go")
        #expect(transcript.droppedTurns == 2 && transcript.characters == 17)
    }

    @Test func aCutKeepsTheHeardShareOfTheWordsEvenWhenItComesFirst() {
        var transcript = ConversationTranscript(maximumCharacters: 1000)
        transcript.add(.agent, "one two three four five six seven eight", item: "1/a")
        transcript.cut(item: "1/a", heardFraction: 0.5)
        #expect(transcript.turns.last?.text == "one two three four…")
        transcript.cut(item: "1/a", heardFraction: 0.1)
        #expect(transcript.turns.last?.text == "one two three four…", "cut once")
        transcript.cut(item: "2/b", heardFraction: 0.3)  // before its transcript arrives
        transcript.add(.agent, "alpha beta gamma delta", item: "2/b")
        #expect(transcript.turns.last?.text == "alpha…")
        #expect(transcript.characters == transcript.turns.reduce(0) { $0 + $1.text.count })
        transcript.add(.agent, "heard whole", item: "3/c")
        transcript.cut(item: "3/c", heardFraction: 1)
        #expect(transcript.turns.last?.text == "heard whole")
    }
}
