// SPDX-License-Identifier: MIT
// ElevenLabs Agents' conversation WebSocket (wss://api.elevenlabs.io/v1/convai/conversation?
// agent_id=…), from its public reference. Everything is JSON TEXT; audio is base64 inside it, in
// the formats the agent is configured for (ulaw_8000, or pcm_RATE: PCM16 little-endian):
//
//   client → server
//     conversation_initiation_client_data   first: overrides of the agent's prompt, first
//                                           message and language, and dynamic variables
//     {"user_audio_chunk": "<base64>"}      caller audio (a bare key, no "type")
//     pong {event_id}                       the answer to each ping
//     client_tool_result {tool_call_id, result, is_error}
//     user_message {text}                   text as if the user said it (the caller's keys)
//     contextual_update {text}              background the agent should know, not answered
//   server → client
//     conversation_initiation_metadata      conversation id and the audio formats in use
//     audio {audio_event: {audio_base_64, event_id}}
//     interruption {interruption_event: {event_id}}   the user talked: drop audio of events up
//                                           to that id
//     ping {ping_event: {event_id, ping_ms}}
//     user_transcript, agent_response, agent_response_correction   the conversation as text
//     client_tool_call {client_tool_call: {tool_name, tool_call_id, parameters}}
//     vad_score and others                  decoded as `.unknown` (counted by the agent)
//
// Pure: bytes in, messages out; typed errors.
import AudioBridgeCore

public enum ElevenLabsClientMessage: Equatable, Sendable {
    case initiation(prompt: String?, firstMessage: String?, language: String?, dynamicVariables: [String: String])
    case userAudioChunk([UInt8])
    case pong(eventID: Int)
    case clientToolResult(toolCallID: String, result: String, isError: Bool)
    case userMessage(text: String)
    case contextualUpdate(text: String)
}

public enum ElevenLabsServerMessage: Equatable, Sendable {
    case initiationMetadata(conversationID: String, agentOutputFormat: String, userInputFormat: String)
    case audio(eventID: Int, bytes: [UInt8])
    case interruption(eventID: Int)
    case ping(eventID: Int, pingMilliseconds: Int?)
    case userTranscript(String)
    case agentResponse(String)
    case agentResponseCorrection(original: String, corrected: String)
    /// `parameters` as JSON text.
    case clientToolCall(name: String, id: String, parameters: String)
    case unknown(type: String)
}

public enum ElevenLabsAgentError: Error, Equatable, Sendable {
    case badJSON(JSONError)
    case notAnObject
    case missingField(type: String, field: String)
    case badAudio
}

public enum ElevenLabsAgentCodec {
    /// Messages carry audio as base64: a second of 48 kHz PCM is under 200 KB.
    public static let maximumMessageBytes = 4 << 20

    public static func encode(_ message: ElevenLabsClientMessage) -> [UInt8] {
        let value: JSONValue
        switch message {
        case .initiation(let prompt, let firstMessage, let language, let variables):
            var agent: [(String, JSONValue)] = []
            if let prompt { agent.append(("prompt", .object([("prompt", .string(prompt))]))) }
            if let firstMessage { agent.append(("first_message", .string(firstMessage))) }
            if let language { agent.append(("language", .string(language))) }
            var fields: [(String, JSONValue)] = [("type", "conversation_initiation_client_data")]
            if !agent.isEmpty { fields.append(("conversation_config_override", .object([("agent", .object(agent))]))) }
            if !variables.isEmpty {
                fields.append(("dynamic_variables", .object(variables.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
            }
            value = .object(fields)
        case .userAudioChunk(let bytes):
            value = .object([("user_audio_chunk", .string(Base64.encode(bytes)))])
        case .pong(let eventID):
            value = .object([("type", "pong"), ("event_id", .number(String(eventID)))])
        case .clientToolResult(let id, let result, let isError):
            value = .object([("type", "client_tool_result"), ("tool_call_id", .string(id)), ("result", .string(result)), ("is_error", .bool(isError))])
        case .userMessage(let text):
            value = .object([("type", "user_message"), ("text", .string(text))])
        case .contextualUpdate(let text):
            value = .object([("type", "contextual_update"), ("text", .string(text))])
        }
        var bytes: [UInt8] = []
        value.write(into: &bytes)
        return bytes
    }

    public static func decode(_ text: [UInt8]) throws(ElevenLabsAgentError) -> ElevenLabsServerMessage {
        let message: JSONValue
        do throws(JSONError) { message = try JSONParser.parse(text, maximumBytes: maximumMessageBytes) } catch { throw .badJSON(error) }
        guard case .object = message else { throw .notAnObject }
        guard let type = message["type"]?.string else { throw .missingField(type: "?", field: "type") }
        /// `type`'s event object (e.g. audio_event), and a field of it.
        func event(_ name: String) throws(ElevenLabsAgentError) -> JSONValue {
            guard let value = message[name], case .object = value else { throw .missingField(type: type, field: name) }
            return value
        }
        func string(_ object: JSONValue, _ field: String, in name: String) throws(ElevenLabsAgentError) -> String {
            guard let value = object[field]?.string else { throw .missingField(type: type, field: "\(name).\(field)") }
            return value
        }
        func integer(_ object: JSONValue, _ field: String, in name: String) throws(ElevenLabsAgentError) -> Int {
            guard let value = object[field]?.int else { throw .missingField(type: type, field: "\(name).\(field)") }
            return value
        }
        switch type {
        case "conversation_initiation_metadata":
            let name = "conversation_initiation_metadata_event"
            let metadata = try event(name)
            return .initiationMetadata(conversationID: metadata["conversation_id"]?.string ?? "",
                                       agentOutputFormat: try string(metadata, "agent_output_audio_format", in: name),
                                       userInputFormat: try string(metadata, "user_input_audio_format", in: name))
        case "audio":
            let name = "audio_event"
            let audio = try event(name)
            let text = try string(audio, "audio_base_64", in: name)
            var bytes: [UInt8] = []
            do throws(Base64.DecodingError) { try Base64.decode(Array(text.utf8), into: &bytes) } catch { throw .badAudio }
            return .audio(eventID: try integer(audio, "event_id", in: name), bytes: bytes)
        case "interruption":
            return .interruption(eventID: try integer(try event("interruption_event"), "event_id", in: "interruption_event"))
        case "ping":
            let ping = try event("ping_event")
            return .ping(eventID: try integer(ping, "event_id", in: "ping_event"), pingMilliseconds: ping["ping_ms"]?.int)
        case "user_transcript":
            let name = "user_transcription_event"
            return .userTranscript(try string(try event(name), "user_transcript", in: name))
        case "agent_response":
            let name = "agent_response_event"
            return .agentResponse(try string(try event(name), "agent_response", in: name))
        case "agent_response_correction":
            let name = "agent_response_correction_event"
            let correction = try event(name)
            return .agentResponseCorrection(original: correction["original_agent_response"]?.string ?? "",
                                            corrected: try string(correction, "corrected_agent_response", in: name))
        case "client_tool_call":
            let name = "client_tool_call"
            let call = try event(name)
            return .clientToolCall(name: try string(call, "tool_name", in: name), id: try string(call, "tool_call_id", in: name),
                                   parameters: call["parameters"]?.jsonText ?? "{}")
        default:
            return .unknown(type: type)
        }
    }
}
