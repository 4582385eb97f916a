// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

struct ElevenLabsAgentCodecTests {
    func text(_ message: ElevenLabsClientMessage) -> String { String(decoding: ElevenLabsAgentCodec.encode(message), as: UTF8.self) }

    @Test func clientMessagesAreWrittenByteForByte() {
        #expect(text(.initiation(prompt: "Be brief.", firstMessage: "", language: "en", dynamicVariables: ["caller": "+1", "call_sid": "CA1"]))
            == #"{"type":"conversation_initiation_client_data","conversation_config_override":{"agent":{"prompt":{"prompt":"Be brief."},"first_message":"","language":"en"}},"dynamic_variables":{"call_sid":"CA1","caller":"+1"}}"#)
        #expect(text(.initiation(prompt: nil, firstMessage: nil, language: nil, dynamicVariables: [:])) == #"{"type":"conversation_initiation_client_data"}"#)
        #expect(text(.userAudioChunk([0xFF, 0x7F, 0x00])) == #"{"user_audio_chunk":"/38A"}"#)
        #expect(text(.pong(eventID: 7)) == #"{"type":"pong","event_id":7}"#)
        #expect(text(.clientToolResult(toolCallID: "t1", result: #"{"ok":true}"#, isError: false))
            == #"{"type":"client_tool_result","tool_call_id":"t1","result":"{\"ok\":true}","is_error":false}"#)
        #expect(text(.userMessage(text: "keys 1#")) == #"{"type":"user_message","text":"keys 1#"}"#)
        #expect(text(.contextualUpdate(text: "so far")) == #"{"type":"contextual_update","text":"so far"}"#)
    }

    @Test func serverMessagesDecode() throws {
        func decode(_ text: String) throws -> ElevenLabsServerMessage { try ElevenLabsAgentCodec.decode(Array(text.utf8)) }
        #expect(try decode(#"{"type":"conversation_initiation_metadata","conversation_initiation_metadata_event":{"conversation_id":"c1","agent_output_audio_format":"ulaw_8000","user_input_audio_format":"ulaw_8000"}}"#)
            == .initiationMetadata(conversationID: "c1", agentOutputFormat: "ulaw_8000", userInputFormat: "ulaw_8000"))
        #expect(try decode(#"{"type":"audio","audio_event":{"audio_base_64":"/38A","event_id":3}}"#) == .audio(eventID: 3, bytes: [0xFF, 0x7F, 0x00]))
        #expect(try decode(#"{"type":"interruption","interruption_event":{"event_id":4}}"#) == .interruption(eventID: 4))
        #expect(try decode(#"{"type":"ping","ping_event":{"event_id":5,"ping_ms":40}}"#) == .ping(eventID: 5, pingMilliseconds: 40))
        #expect(try decode(#"{"type":"user_transcript","user_transcription_event":{"user_transcript":"hi"}}"#) == .userTranscript("hi"))
        #expect(try decode(#"{"type":"agent_response","agent_response_event":{"agent_response":"hello"}}"#) == .agentResponse("hello"))
        #expect(try decode(#"{"type":"agent_response_correction","agent_response_correction_event":{"original_agent_response":"hello there","corrected_agent_response":"hello"}}"#)
            == .agentResponseCorrection(original: "hello there", corrected: "hello"))
        #expect(try decode(#"{"type":"client_tool_call","client_tool_call":{"tool_name":"end_call","tool_call_id":"t1","parameters":{"reason":"done"}}}"#)
            == .clientToolCall(name: "end_call", id: "t1", parameters: #"{"reason":"done"}"#))
        #expect(try decode(#"{"type":"vad_score","vad_score_event":{"vad_score":0.9}}"#) == .unknown(type: "vad_score"))
        #expect(throws: ElevenLabsAgentError.badAudio) { try decode(#"{"type":"audio","audio_event":{"audio_base_64":"!!","event_id":3}}"#) }
        #expect(throws: ElevenLabsAgentError.missingField(type: "audio", field: "audio_event.event_id")) { try decode(#"{"type":"audio","audio_event":{"audio_base_64":"AA=="}}"#) }
        #expect(throws: ElevenLabsAgentError.missingField(type: "ping", field: "ping_event")) { try decode(#"{"type":"ping"}"#) }
        #expect(throws: ElevenLabsAgentError.notAnObject) { try decode("3") }
    }
}

/// Heavy on CPU: on the release build (make test-release), not among the debug tests.
struct ElevenLabsAgentFuzzTests {
    @Test func mutatedMessagesNeverTrap() {
        var random = SplitMix64(seed: 1107)
        let seeds = [#"{"type":"audio","audio_event":{"audio_base_64":"/38A/38A","event_id":3}}"#,
                     #"{"type":"client_tool_call","client_tool_call":{"tool_name":"end_call","tool_call_id":"t1","parameters":{}}}"#,
                     #"{"type":"interruption","interruption_event":{"event_id":4}}"#, #"{"type":"ping","ping_event":{"event_id":5}}"#]
        var decoded = 0, refused = 0
        for round in 0..<60_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<(1 + random.next() % 3) {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            if (try? ElevenLabsAgentCodec.decode(bytes)) != nil { decoded += 1 } else { refused += 1 }
        }
        #expect(decoded > 1000 && refused > 1000, "decoded \(decoded), refused \(refused)")
    }
}
