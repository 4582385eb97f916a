// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

struct GeminiLiveCodecTests {
    func text(_ message: GeminiLiveClientMessage) -> String { String(decoding: GeminiLiveCodec.encode(message), as: UTF8.self) }

    @Test func setupIsWrittenByteForByte() {
        var setup = GeminiLiveSetup()
        setup.model = "models/m"
        setup.voice = "Puck"
        setup.systemInstruction = "Be brief."
        setup.automaticActivityDetection = false
        setup.functions = [RealtimeTool(name: "end_call", description: "Hang up.", parameters: ["type": "object"])]
        setup.resumptionHandle = "h1"
        #expect(text(.setup(setup)) == #"{"setup":{"model":"models/m","generationConfig":{"responseModalities":["AUDIO"],"#
            + #""speechConfig":{"voiceConfig":{"prebuiltVoiceConfig":{"voiceName":"Puck"}}}},"#
            + #""systemInstruction":{"parts":[{"text":"Be brief."}]},"realtimeInputConfig":{"automaticActivityDetection":{"disabled":true}},"#
            + #""inputAudioTranscription":{},"outputAudioTranscription":{},"#
            + #""tools":[{"functionDeclarations":[{"name":"end_call","description":"Hang up.","parameters":{"type":"object"}}]}],"#
            + #""sessionResumption":{"handle":"h1"}}}"#)
        #expect(text(.setup(GeminiLiveSetup())).hasSuffix(#""sessionResumption":{}}}"#))
    }

    @Test func clientMessagesAreTheirShapes() {
        #expect(text(.audio([0x01, 0x00, 0xFF, 0x7F], sampleRate: 16000)) == #"{"realtimeInput":{"audio":{"data":"AQD/fw==","mimeType":"audio/pcm;rate=16000"}}}"#)
        #expect(text(.activityStart) == #"{"realtimeInput":{"activityStart":{}}}"#)
        #expect(text(.activityEnd) == #"{"realtimeInput":{"activityEnd":{}}}"#)
        #expect(text(.text("keys 1#")) == #"{"realtimeInput":{"text":"keys 1#"}}"#)
        #expect(text(.toolResponse(id: "c1", name: "end_call", response: #"{"ok":true}"#))
            == #"{"toolResponse":{"functionResponses":[{"id":"c1","name":"end_call","response":{"ok":true}}]}}"#)
        #expect(text(.toolResponse(id: "c1", name: "x", response: "plain")) == #"{"toolResponse":{"functionResponses":[{"id":"c1","name":"x","response":{"result":"plain"}}]}}"#)
    }

    @Test func serverMessagesDecodeAllTheyCarry() throws {
        func decode(_ text: String) throws -> GeminiLiveServerMessage { try GeminiLiveCodec.decode(Array(text.utf8)) }
        #expect(try decode(#"{"setupComplete":{}}"#).setupComplete)
        let content = try decode(#"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"AQA="}},{"text":"x"},{"inlineData":{"data":"AgA="}}]},"outputTranscription":{"text":"hi"},"turnComplete":true}}"#)
        #expect(content.audio == [1, 0, 2, 0] && content.turnComplete && content.outputTranscription == "hi" && !content.interrupted)
        #expect(try decode(#"{"serverContent":{"interrupted":true}}"#).interrupted)
        #expect(try decode(#"{"serverContent":{"inputTranscription":{"text":"hello"}}}"#).inputTranscription == "hello")
        #expect(try decode(#"{"toolCall":{"functionCalls":[{"id":"c1","name":"end_call","args":{"reason":"done"}}]}}"#).functionCalls
            == [GeminiFunctionCall(id: "c1", name: "end_call", arguments: #"{"reason":"done"}"#)])
        #expect(try decode(#"{"toolCallCancellation":{"ids":["c1","c2"]}}"#).cancelledCalls == ["c1", "c2"])
        #expect(try decode(#"{"goAway":{"timeLeft":"10s"}}"#).goAway == "10s")
        #expect(try decode(#"{"sessionResumptionUpdate":{"newHandle":"h2","resumable":true}}"#).resumptionHandle == "h2")
        #expect(try decode(#"{"sessionResumptionUpdate":{"newHandle":"h3","resumable":false}}"#).resumptionHandle == nil)
        #expect(try decode(#"{"usageMetadata":{"totalTokenCount":5}}"#).isEmpty)
        #expect(throws: GeminiLiveError.badAudio) { try decode(#"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"@@"}}]}}}"#) }
        #expect(throws: GeminiLiveError.missingField("toolCall.functionCalls[].id")) { try decode(#"{"toolCall":{"functionCalls":[{"name":"x"}]}}"#) }
        #expect(throws: GeminiLiveError.notAnObject) { try decode("[]") }
    }
}

/// Heavy on CPU: on the release build (make test-release), not among the debug tests.
struct GeminiLiveFuzzTests {
    @Test func mutatedMessagesNeverTrap() {
        var random = SplitMix64(seed: 2025)
        let seeds = [#"{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"AQACAA=="}}]},"turnComplete":true}}"#,
                     #"{"toolCall":{"functionCalls":[{"id":"c1","name":"end_call","args":{}}]}}"#,
                     #"{"sessionResumptionUpdate":{"newHandle":"h2","resumable":true}}"#, #"{"goAway":{"timeLeft":"10s"}}"#]
        var decoded = 0, refused = 0
        for round in 0..<60_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<(1 + random.next() % 3) {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            if (try? GeminiLiveCodec.decode(bytes)) != nil { decoded += 1 } else { refused += 1 }
        }
        #expect(decoded > 1000 && refused > 1000, "decoded \(decoded), refused \(refused)")
    }
}
