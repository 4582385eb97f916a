// SPDX-License-Identifier: MIT
// JSON ⇄ Realtime events (protocols.md §4). Field names per version:
//   GA:   session.type "realtime", output_modalities, audio.input.{format, turn_detection},
//         audio.output.{format, voice}; formats {"type":"audio/pcm","rate":24000}, audio/pcmu, audio/pcma
//   beta: modalities, voice, input_audio_format / output_audio_format "pcm16" | "g711_ulaw" |
//         "g711_alaw", turn_detection at the session's top level
//   input transcription: GA audio.input.transcription {model}, beta input_audio_transcription {model}
//   tools: session.tools [{type "function", name, description, parameters}], tool_choice "auto";
//         a call arrives as response.output_item.done of a function_call item; its result goes
//         back as conversation.item.create of a function_call_output item
//   text items: conversation.item.create of a message; its content part is input_text for the
//         user, output_text (GA) or text (beta) for the assistant
import AudioBridgeCore

public enum RealtimeCodec {
    public static func encode(_ event: RealtimeClientEvent, version: RealtimeProtocolVersion) -> [UInt8] {
        let value: JSONValue
        switch event {
        case .sessionUpdate(let settings):
            value = ["type": "session.update", "session": session(settings, version: version)]
        case .appendAudio(let audio):
            value = ["type": "input_audio_buffer.append", "audio": .string(Base64.encode(audio))]
        case .commitAudio:
            value = ["type": "input_audio_buffer.commit"]
        case .clearAudio:
            value = ["type": "input_audio_buffer.clear"]
        case .createResponse:
            value = ["type": "response.create"]
        case .cancelResponse(let responseID):
            value = responseID.map { ["type": "response.cancel", "response_id": .string($0)] } ?? ["type": "response.cancel"]
        case .truncate(let itemID, let contentIndex, let audioEnd):
            value = ["type": "conversation.item.truncate", "item_id": .string(itemID), "content_index": .number(String(contentIndex)),
                     "audio_end_ms": .number(String(max(0, audioEnd)))]
        case .createTextItem(let role, let text):
            let part = role == .user ? "input_text" : (version == .ga ? "output_text" : "text")
            value = ["type": "conversation.item.create",
                     "item": ["type": "message", "role": .string(role.rawValue), "content": [["type": .string(part), "text": .string(text)]]]]
        case .functionCallOutput(let callID, let output):
            value = ["type": "conversation.item.create", "item": ["type": "function_call_output", "call_id": .string(callID), "output": .string(output)]]
        }
        var bytes: [UInt8] = []
        value.write(into: &bytes)
        return bytes
    }

    static func session(_ settings: RealtimeSessionSettings, version: RealtimeProtocolVersion) -> JSONValue {
        let turnDetection = turnDetectionValue(settings.turnDetection)
        switch version {
        case .ga:
            let format: JSONValue = switch settings.format {
            case .pcm16: ["type": "audio/pcm", "rate": 24000]
            case .ulaw: ["type": "audio/pcmu"]
            case .alaw: ["type": "audio/pcma"]
            }
            var input: [(String, JSONValue)] = [("format", format), ("turn_detection", turnDetection)]
            if let model = settings.inputTranscriptionModel { input.append(("transcription", ["model": .string(model)])) }
            return .object([("type", "realtime"), ("model", .string(settings.model)), ("output_modalities", ["audio"]),
                            ("instructions", .string(settings.instructions)),
                            ("audio", ["input": .object(input), "output": ["format": format, "voice": .string(settings.voice)]])]
                           + tools(settings.tools))
        case .beta:
            let format: JSONValue = switch settings.format {
            case .pcm16: "pcm16"
            case .ulaw: "g711_ulaw"
            case .alaw: "g711_alaw"
            }
            var session: [(String, JSONValue)] = [
                ("modalities", ["audio", "text"]), ("instructions", .string(settings.instructions)), ("voice", .string(settings.voice)),
                ("input_audio_format", format), ("output_audio_format", format), ("turn_detection", turnDetection)]
            if let model = settings.inputTranscriptionModel { session.append(("input_audio_transcription", ["model": .string(model)])) }
            return .object(session + tools(settings.tools))
        }
    }

    /// The session's tools fields (the same in both versions); none when there are no tools.
    static func tools(_ tools: [RealtimeTool]) -> [(String, JSONValue)] {
        guard !tools.isEmpty else { return [] }
        let list = tools.map { tool -> JSONValue in
            ["type": "function", "name": .string(tool.name), "description": .string(tool.description), "parameters": tool.parameters]
        }
        return [("tools", .array(list)), ("tool_choice", "auto")]
    }

    static func turnDetectionValue(_ detection: RealtimeTurnDetection) -> JSONValue {
        switch detection {
        case .none:
            return .null
        case .serverVAD(let threshold, let prefix, let silence, let create, let interrupt):
            // 0–1; anything else (NaN included) would be invalid JSON or refused by the server.
            let threshold = threshold >= 0 && threshold <= 1 ? threshold : 0.5
            return ["type": "server_vad", "threshold": .number(String(threshold)), "prefix_padding_ms": .number(String(prefix)),
                    "silence_duration_ms": .number(String(silence)), "create_response": .bool(create), "interrupt_response": .bool(interrupt)]
        case .semanticVAD(let eagerness, let create, let interrupt):
            return ["type": "semantic_vad", "eagerness": .string(eagerness), "create_response": .bool(create), "interrupt_response": .bool(interrupt)]
        }
    }

    /// Decodes one server event (a TEXT frame).
    public static func decode(_ frame: some Collection<UInt8>) throws(RealtimeError) -> RealtimeServerEvent { try decode(Array(frame)) }

    /// The same for an array (specialized for callers in other modules).
    public static func decode(_ frame: [UInt8]) throws(RealtimeError) -> RealtimeServerEvent {
        let event: JSONValue
        do throws(JSONError) { event = try JSONParser.parse(frame) } catch { throw .badJSON(error) }
        guard case .object = event else { throw .notAnObject }
        guard let type = event["type"]?.string else { throw .missingField(event: "?", field: "type") }
        func text(_ value: JSONValue?, _ field: String) throws(RealtimeError) -> String {
            guard let string = value?.string else { throw .missingField(event: type, field: field) }
            return string
        }
        switch type {
        case "session.created":
            return .sessionCreated
        case "session.updated":
            return .sessionUpdated
        case "input_audio_buffer.speech_started":
            return .speechStarted(audioStartMilliseconds: event["audio_start_ms"]?.int, itemID: event["item_id"]?.string)
        case "input_audio_buffer.speech_stopped":
            return .speechStopped(audioEndMilliseconds: event["audio_end_ms"]?.int, itemID: event["item_id"]?.string)
        case "input_audio_buffer.committed":
            return .inputCommitted(itemID: event["item_id"]?.string)
        case "response.created":
            return .responseCreated(responseID: try text(event["response"]?["id"], "response.id"))
        case "response.done":
            let response = event["response"]
            return .responseDone(responseID: try text(response?["id"], "response.id"), status: response?["status"]?.string ?? "")
        case "response.output_audio.delta", "response.audio.delta":
            let encoded = try text(event["delta"], "delta")
            var audio: [UInt8] = []
            do throws(Base64.DecodingError) { try Base64.decode(Array(encoded.utf8), into: &audio) } catch { throw .badAudio(error) }
            return .audioDelta(responseID: try text(event["response_id"], "response_id"), itemID: try text(event["item_id"], "item_id"),
                               contentIndex: event["content_index"]?.int ?? 0, audio: audio)
        case "response.output_audio.done", "response.audio.done":
            return .audioDone(responseID: try text(event["response_id"], "response_id"), itemID: try text(event["item_id"], "item_id"))
        case "conversation.item.truncated":
            guard let end = event["audio_end_ms"]?.int else { throw .missingField(event: type, field: "audio_end_ms") }
            return .truncated(itemID: try text(event["item_id"], "item_id"), audioEndMilliseconds: end)
        case "conversation.item.input_audio_transcription.completed":
            return .inputTranscript(itemID: try text(event["item_id"], "item_id"), text: try text(event["transcript"], "transcript"))
        case "response.output_audio_transcript.done", "response.audio_transcript.done":
            return .outputTranscript(responseID: event["response_id"]?.string, itemID: try text(event["item_id"], "item_id"),
                                     text: try text(event["transcript"], "transcript"))
        case "response.output_item.done":
            let item = event["item"]
            guard item?["type"]?.string == "function_call" else { return .unknown(type: type) }
            return .functionCall(responseID: event["response_id"]?.string, callID: try text(item?["call_id"], "item.call_id"),
                                 name: try text(item?["name"], "item.name"), arguments: item?["arguments"]?.string ?? "{}")
        case "error":
            let error = event["error"]
            return .error(type: error?["type"]?.string ?? "", code: error?["code"]?.string, message: error?["message"]?.string ?? "")
        default:
            return .unknown(type: type)
        }
    }
}
