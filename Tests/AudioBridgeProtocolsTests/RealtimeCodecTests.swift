// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeProtocols
import Testing

struct RealtimeCodecTests {
    static func decode(_ text: String) throws -> RealtimeServerEvent { try RealtimeCodec.decode(Array(text.utf8)) }
    static func encoded(_ event: RealtimeClientEvent, _ version: RealtimeProtocolVersion = .ga) throws -> JSONValue {
        try JSONParser.parse(RealtimeCodec.encode(event, version: version))
    }

    /// protocols.md §4.9: the GA session for a μ-law leg, field by field.
    @Test func gaSessionUpdateHasTheCurrentFieldNames() throws {
        let settings = RealtimeSessionSettings(model: "gpt-realtime", voice: "marin", instructions: "You are a phone agent.", format: .ulaw,
                                               turnDetection: .serverVAD(threshold: 0.6, prefixPaddingMilliseconds: 300, silenceDurationMilliseconds: 500,
                                                                         createResponse: true, interruptResponse: true))
        let update = try Self.encoded(.sessionUpdate(settings))
        #expect(update["type"] == "session.update")
        let session = update["session"]
        #expect(session?["type"] == "realtime")
        #expect(session?["model"] == "gpt-realtime")
        #expect(session?["output_modalities"] == ["audio"])
        #expect(session?["instructions"] == "You are a phone agent.")
        #expect(session?["audio"]?["input"]?["format"] == ["type": "audio/pcmu"])
        #expect(session?["audio"]?["output"]?["format"] == ["type": "audio/pcmu"])
        #expect(session?["audio"]?["output"]?["voice"] == "marin")
        #expect(session?["audio"]?["input"]?["turn_detection"] == ["type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 300,
                                                                   "silence_duration_ms": 500, "create_response": true, "interrupt_response": true])
        #expect(session?["input_audio_format"] == nil, "no beta fields in a GA update")
        let pcm = try Self.encoded(.sessionUpdate(RealtimeSessionSettings(format: .pcm16, turnDetection: .none)))
        #expect(pcm["session"]?["audio"]?["input"]?["format"] == ["type": "audio/pcm", "rate": 24000])
        #expect(pcm["session"]?["audio"]?["input"]?["turn_detection"] == .null, "null turns server VAD off")
    }

    @Test func betaSessionUpdateHasTheLegacyFieldNames() throws {
        let update = try Self.encoded(.sessionUpdate(RealtimeSessionSettings(voice: "ash", format: .ulaw,
                                                                             turnDetection: .semanticVAD(eagerness: "high", createResponse: false, interruptResponse: false))), .beta)
        let session = update["session"]
        #expect(session?["input_audio_format"] == "g711_ulaw")
        #expect(session?["output_audio_format"] == "g711_ulaw")
        #expect(session?["voice"] == "ash")
        #expect(session?["modalities"] == ["audio", "text"])
        #expect(session?["turn_detection"] == ["type": "semantic_vad", "eagerness": "high", "create_response": false, "interrupt_response": false])
        #expect(session?["audio"] == nil && session?["type"] == nil, "no GA fields in a beta update")
        #expect(try Self.encoded(.sessionUpdate(RealtimeSessionSettings(format: .alaw)), .beta)["session"]?["input_audio_format"] == "g711_alaw")
        #expect(try Self.encoded(.sessionUpdate(RealtimeSessionSettings(format: .pcm16)), .beta)["session"]?["output_audio_format"] == "pcm16")
    }

    @Test func clientEventsCarryExactlyTheirFields() throws {
        #expect(try Self.encoded(.appendAudio([0xFF, 0x7F, 0x00])) == ["type": "input_audio_buffer.append", "audio": "/38A"])
        #expect(try Self.encoded(.commitAudio) == ["type": "input_audio_buffer.commit"])
        #expect(try Self.encoded(.clearAudio) == ["type": "input_audio_buffer.clear"])
        #expect(try Self.encoded(.createResponse) == ["type": "response.create"])
        #expect(try Self.encoded(.cancelResponse(responseID: nil)) == ["type": "response.cancel"])
        #expect(try Self.encoded(.cancelResponse(responseID: "resp_1")) == ["type": "response.cancel", "response_id": "resp_1"])
        #expect(try Self.encoded(.truncate(itemID: "item_7", contentIndex: 0, audioEndMilliseconds: 1840))
            == ["type": "conversation.item.truncate", "item_id": "item_7", "content_index": 0, "audio_end_ms": 1840])
        #expect(try Self.encoded(.truncate(itemID: "i", contentIndex: 0, audioEndMilliseconds: -5))["audio_end_ms"] == 0)
        let nan = try Self.encoded(.sessionUpdate(RealtimeSessionSettings(turnDetection: .serverVAD(threshold: .nan, prefixPaddingMilliseconds: 300,
                                                                                                    silenceDurationMilliseconds: 500, createResponse: true, interruptResponse: true))))
        #expect(nan["session"]?["audio"]?["input"]?["turn_detection"]?["threshold"] == 0.5)
    }

    /// Both event name sets decode to the same events (the worked example's stream).
    @Test func serverEventsDecodeUnderBothNames() throws {
        for name in ["response.output_audio.delta", "response.audio.delta"] {
            let delta = try Self.decode(#"{"type":"\#(name)","response_id":"resp_1","item_id":"item_7","output_index":0,"content_index":0,"delta":"AAEC"}"#)
            #expect(delta == .audioDelta(responseID: "resp_1", itemID: "item_7", contentIndex: 0, audio: [0, 1, 2]))
        }
        for name in ["response.output_audio.done", "response.audio.done"] {
            #expect(try Self.decode(#"{"type":"\#(name)","response_id":"resp_1","item_id":"item_7"}"#) == .audioDone(responseID: "resp_1", itemID: "item_7"))
        }
        #expect(try Self.decode(#"{"type":"input_audio_buffer.speech_started","event_id":"ev_9","audio_start_ms":48320,"item_id":"item_8"}"#)
            == .speechStarted(audioStartMilliseconds: 48320, itemID: "item_8"))
        #expect(try Self.decode(#"{"type":"input_audio_buffer.speech_stopped","audio_end_ms":49000,"item_id":"item_8"}"#)
            == .speechStopped(audioEndMilliseconds: 49000, itemID: "item_8"))
        #expect(try Self.decode(#"{"type":"conversation.item.truncated","event_id":"ev_10","item_id":"item_7","content_index":0,"audio_end_ms":1840}"#)
            == .truncated(itemID: "item_7", audioEndMilliseconds: 1840))
        #expect(try Self.decode(#"{"type":"response.created","response":{"id":"resp_2","status":"in_progress"}}"#) == .responseCreated(responseID: "resp_2"))
        #expect(try Self.decode(#"{"type":"response.done","response":{"id":"resp_2","status":"cancelled"}}"#) == .responseDone(responseID: "resp_2", status: "cancelled"))
        #expect(try Self.decode(#"{"type":"session.created","session":{}}"#) == .sessionCreated)
        #expect(try Self.decode(#"{"type":"session.updated","session":{}}"#) == .sessionUpdated)
        #expect(try Self.decode(#"{"type":"input_audio_buffer.committed","item_id":"item_8","previous_item_id":null}"#) == .inputCommitted(itemID: "item_8"))
        #expect(try Self.decode(#"{"type":"error","event_id":"e","error":{"type":"invalid_request_error","code":"response_cancel_not_active","message":"Cancellation failed: no active response found"}}"#)
            == .error(type: "invalid_request_error", code: "response_cancel_not_active", message: "Cancellation failed: no active response found"))
        #expect(try Self.decode(#"{"type":"response.output_audio_transcript.delta","delta":"hi"}"#) == .unknown(type: "response.output_audio_transcript.delta"))
    }

    @Test func malformedServerEventsAreTypedErrors() {
        #expect(throws: RealtimeError.badJSON(.unexpectedEnd)) { try Self.decode(#"{"type":"#) }
        #expect(throws: RealtimeError.notAnObject) { try Self.decode(#""session.created""#) }
        #expect(throws: RealtimeError.missingField(event: "?", field: "type")) { try Self.decode(#"{"event":"x"}"#) }
        #expect(throws: RealtimeError.missingField(event: "response.audio.delta", field: "delta")) { try Self.decode(#"{"type":"response.audio.delta","item_id":"i"}"#) }
        #expect(throws: RealtimeError.badAudio(.badLength(3))) { try Self.decode(#"{"type":"response.audio.delta","delta":"AAE","response_id":"r","item_id":"i"}"#) }
        #expect(throws: RealtimeError.missingField(event: "response.created", field: "response.id")) { try Self.decode(#"{"type":"response.created"}"#) }
        #expect(throws: RealtimeError.missingField(event: "conversation.item.truncated", field: "audio_end_ms")) { try Self.decode(#"{"type":"conversation.item.truncated","item_id":"i"}"#) }
    }

    /// Append → decode as a delta carries any audio length unchanged (base64 both ways).
    @Test func audioSurvivesBase64AtEveryLength() throws {
        for length in stride(from: 0, through: 960, by: 7) {
            let audio = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
            guard case .string(let base64)? = try Self.encoded(.appendAudio(audio))["audio"] else { Issue.record("no audio field"); continue }
            let delta = try Self.decode(#"{"type":"response.output_audio.delta","response_id":"r","item_id":"i","content_index":0,"delta":"\#(base64)"}"#)
            #expect(delta == .audioDelta(responseID: "r", itemID: "i", contentIndex: 0, audio: audio))
        }
    }
}

/// What a new connection needs to carry a conversation on: the caller's transcription asked
/// for, transcripts read under both protocol versions, and turns written back as text items.
struct RealtimeTranscriptCodecTests {
    @Test func inputTranscriptionIsRequestedUnderEachVersionsName() throws {
        let settings = RealtimeSessionSettings(inputTranscriptionModel: "gpt-4o-mini-transcribe")
        let ga = try RealtimeCodecTests.encoded(.sessionUpdate(settings))["session"]
        #expect(ga?["audio"]?["input"]?["transcription"] == ["model": "gpt-4o-mini-transcribe"])
        #expect(ga?["input_audio_transcription"] == nil)
        let beta = try RealtimeCodecTests.encoded(.sessionUpdate(settings), .beta)["session"]
        #expect(beta?["input_audio_transcription"] == ["model": "gpt-4o-mini-transcribe"])
        #expect(beta?["audio"] == nil)
        let none = try RealtimeCodecTests.encoded(.sessionUpdate(RealtimeSessionSettings()))["session"]
        #expect(none?["audio"]?["input"]?["transcription"] == nil, "not asked for unless set")
    }

    @Test func textItemsUseTheContentTypeOfTheirRoleAndVersion() throws {
        #expect(try RealtimeCodecTests.encoded(.createTextItem(role: .user, text: "Hi \"there\""))
            == ["type": "conversation.item.create", "item": ["type": "message", "role": "user", "content": [["type": "input_text", "text": "Hi \"there\""]]]])
        #expect(try RealtimeCodecTests.encoded(.createTextItem(role: .assistant, text: "Hello."))["item"]?["content"]
            == [["type": "output_text", "text": "Hello."]])
        #expect(try RealtimeCodecTests.encoded(.createTextItem(role: .assistant, text: "Hello."), .beta)["item"]?["content"]
            == [["type": "text", "text": "Hello."]])
        #expect(try RealtimeCodecTests.encoded(.createTextItem(role: .user, text: "x"), .beta)["item"]?["content"]
            == [["type": "input_text", "text": "x"]])
    }

    @Test func transcriptsDecodeUnderBothNames() throws {
        #expect(try RealtimeCodecTests.decode(#"{"type":"conversation.item.input_audio_transcription.completed","item_id":"item_1","content_index":0,"transcript":"I need a taxi."}"#)
            == .inputTranscript(itemID: "item_1", text: "I need a taxi."))
        for name in ["response.output_audio_transcript.done", "response.audio_transcript.done"] {
            #expect(try RealtimeCodecTests.decode(#"{"type":"\#(name)","response_id":"resp_1","item_id":"item_2","output_index":0,"content_index":0,"transcript":"Where to?"}"#)
                == .outputTranscript(responseID: "resp_1", itemID: "item_2", text: "Where to?"))
        }
        #expect(throws: RealtimeError.missingField(event: "response.output_audio_transcript.done", field: "transcript")) {
            try RealtimeCodecTests.decode(#"{"type":"response.output_audio_transcript.done","item_id":"i"}"#)
        }
        #expect(throws: RealtimeError.missingField(event: "conversation.item.input_audio_transcription.completed", field: "item_id")) {
            try RealtimeCodecTests.decode(#"{"type":"conversation.item.input_audio_transcription.completed","transcript":"t"}"#)
        }
    }
}

/// Functions the model may call: declared in session.update, called in an output item, answered
/// with a function_call_output item.
struct RealtimeToolCodecTests {
    @Test func toolsAreDeclaredTheSameWayInBothVersions() throws {
        var settings = RealtimeSessionSettings()
        settings.tools = [RealtimeTool(name: "end_call", description: "Hang up.", parameters: ["type": "object", "properties": [:]])]
        for version in [RealtimeProtocolVersion.ga, .beta] {
            let session = try RealtimeCodecTests.encoded(.sessionUpdate(settings), version)["session"]
            #expect(session?["tools"] == [["type": "function", "name": "end_call", "description": "Hang up.", "parameters": ["type": "object", "properties": [:]]]])
            #expect(session?["tool_choice"] == "auto")
        }
        #expect(try RealtimeCodecTests.encoded(.sessionUpdate(RealtimeSessionSettings()))["session"]?["tools"] == nil, "no tools: no fields")
    }

    @Test func aFunctionCallDecodesFromItsOutputItemAndItsResultEncodes() throws {
        let call = #"{"type":"response.output_item.done","response_id":"resp_3","output_index":1,"item":{"id":"item_9","type":"function_call","status":"completed","name":"transfer_call","call_id":"call_7","arguments":"{\"target\":\"+14155550100\"}"}}"#
        #expect(try RealtimeCodecTests.decode(call) == .functionCall(responseID: "resp_3", callID: "call_7", name: "transfer_call", arguments: #"{"target":"+14155550100"}"#))
        #expect(try RealtimeCodecTests.decode(#"{"type":"response.output_item.done","item":{"type":"message","id":"i"}}"#) == .unknown(type: "response.output_item.done"))
        #expect(throws: RealtimeError.missingField(event: "response.output_item.done", field: "item.call_id")) {
            try RealtimeCodecTests.decode(#"{"type":"response.output_item.done","item":{"type":"function_call","name":"x"}}"#)
        }
        #expect(try RealtimeCodecTests.encoded(.functionCallOutput(callID: "call_7", output: #"{"ok":true}"#))
            == ["type": "conversation.item.create", "item": ["type": "function_call_output", "call_id": "call_7", "output": #"{"ok":true}"#]])
    }
}
