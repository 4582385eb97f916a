// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

struct DeepgramAgentCodecTests {
    @Test func settingsAreWrittenByteForByte() {
        var settings = DeepgramAgentSettings()
        settings.inputEncoding = .mulaw
        settings.inputSampleRate = 8000
        settings.outputEncoding = .mulaw
        settings.outputSampleRate = 8000
        settings.prompt = "Be brief."
        settings.greeting = "Hello!"
        settings.functions = [RealtimeTool(name: "end_call", description: "Hang up.", parameters: ["type": "object"])]
        settings.history = [("user", "Hi"), ("assistant", "Hello \"there\"")]
        let expected = #"{"type":"Settings","audio":{"input":{"encoding":"mulaw","sample_rate":8000},"#
            + #""output":{"encoding":"mulaw","sample_rate":8000,"container":"none"}},"agent":{"language":"en","#
            + #""listen":{"provider":{"type":"deepgram","model":"nova-3"}},"#
            + #""think":{"provider":{"type":"open_ai","model":"gpt-4o-mini"},"prompt":"Be brief.","#
            + #""functions":[{"name":"end_call","description":"Hang up.","parameters":{"type":"object"}}]},"#
            + #""speak":{"provider":{"type":"deepgram","model":"aura-2-thalia-en"}},"greeting":"Hello!","#
            + #""context":{"messages":[{"type":"History","role":"user","content":"Hi"},"#
            + #"{"type":"History","role":"assistant","content":"Hello \"there\""}]}}}"#
        #expect(String(decoding: DeepgramAgentCodec.encode(.settings(settings)), as: UTF8.self) == expected)
    }

    @Test func aPlainSettingsLeavesOutWhatIsNotSet() throws {
        let json = try JSONParser.parse(DeepgramAgentCodec.encode(.settings(DeepgramAgentSettings())))
        #expect(json["agent"]?["greeting"] == nil && json["agent"]?["context"] == nil)
        #expect(json["agent"]?["think"]?["functions"] == nil && json["agent"]?["think"]?["prompt"] == nil)
        #expect(json["audio"]?["input"]?["encoding"]?.string == "linear16" && json["audio"]?["output"]?["sample_rate"]?.int == 16000)
    }

    @Test func clientMessagesAreTheirShapes() {
        func text(_ message: DeepgramClientMessage) -> String { String(decoding: DeepgramAgentCodec.encode(message), as: UTF8.self) }
        #expect(text(.keepAlive) == #"{"type":"KeepAlive"}"#)
        #expect(text(.functionCallResponse(id: "fc_1", name: "end_call", content: #"{"ok":true}"#))
            == #"{"type":"FunctionCallResponse","id":"fc_1","name":"end_call","content":"{\"ok\":true}"}"#)
        #expect(text(.injectUserMessage(content: "keys 1#")) == #"{"type":"InjectUserMessage","content":"keys 1#"}"#)
    }

    @Test func serverMessagesDecode() throws {
        func decode(_ text: String) throws -> DeepgramServerMessage { try DeepgramAgentCodec.decode(Array(text.utf8)) }
        #expect(try decode(#"{"type":"Welcome","request_id":"r1"}"#) == .welcome(requestID: "r1"))
        #expect(try decode(#"{"type":"SettingsApplied"}"#) == .settingsApplied)
        #expect(try decode(#"{"type":"ConversationText","role":"user","content":"hi"}"#) == .conversationText(role: "user", content: "hi"))
        #expect(try decode(#"{"type":"UserStartedSpeaking"}"#) == .userStartedSpeaking)
        #expect(try decode(#"{"type":"AgentThinking","content":"…"}"#) == .agentThinking)
        #expect(try decode(#"{"type":"AgentStartedSpeaking","total_latency":0.5}"#) == .agentStartedSpeaking)
        #expect(try decode(#"{"type":"AgentAudioDone"}"#) == .agentAudioDone)
        #expect(try decode(#"{"type":"FunctionCallRequest","functions":[{"id":"fc_1","name":"end_call","arguments":"{\"reason\":\"done\"}","client_side":true},{"id":"fc_2","name":"lookup","arguments":{"q":1},"client_side":false}]}"#)
            == .functionCallRequest([DeepgramFunctionCall(id: "fc_1", name: "end_call", arguments: #"{"reason":"done"}"#, clientSide: true),
                                     DeepgramFunctionCall(id: "fc_2", name: "lookup", arguments: #"{"q":1}"#, clientSide: false)]))
        #expect(try decode(#"{"type":"Error","description":"bad","code":"X"}"#) == .error(description: "bad", code: "X"))
        #expect(try decode(#"{"type":"Warning","description":"w"}"#) == .warning(description: "w", code: ""))
        #expect(try decode(#"{"type":"PromptUpdated"}"#) == .unknown(type: "PromptUpdated"))
        #expect(throws: DeepgramAgentError.notAnObject) { try decode("[1]") }
        #expect(throws: DeepgramAgentError.missingField(type: "?", field: "type")) { try decode("{}") }
        #expect(throws: DeepgramAgentError.missingField(type: "ConversationText", field: "content")) { try decode(#"{"type":"ConversationText","role":"user"}"#) }
        #expect(throws: DeepgramAgentError.missingField(type: "FunctionCallRequest", field: "functions[].id")) { try decode(#"{"type":"FunctionCallRequest","functions":[{"name":"x"}]}"#) }
    }
}

/// Heavy on CPU: on the release build (make test-release), not among the debug tests.
struct DeepgramAgentFuzzTests {
    /// Mutated server messages never trap, and the mutations reach both outcomes.
    @Test func mutatedMessagesNeverTrap() {
        var random = SplitMix64(seed: 4733)
        let seeds = [#"{"type":"FunctionCallRequest","functions":[{"id":"fc_1","name":"end_call","arguments":"{}","client_side":true}]}"#,
                     #"{"type":"ConversationText","role":"assistant","content":"hello"}"#, #"{"type":"UserStartedSpeaking"}"#,
                     #"{"type":"Error","description":"bad","code":"X"}"#]
        var decoded = 0, refused = 0
        for round in 0..<60_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<(1 + random.next() % 3) {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            if (try? DeepgramAgentCodec.decode(bytes)) != nil { decoded += 1 } else { refused += 1 }
        }
        #expect(decoded > 1000 && refused > 1000, "decoded \(decoded), refused \(refused)")
    }
}
