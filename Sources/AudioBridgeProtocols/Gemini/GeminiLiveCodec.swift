// SPDX-License-Identifier: MIT
// Google's Gemini Live API (BidiGenerateContent over a WebSocket:
// wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent,
// the key in an `x-goog-api-key` header), from its public reference. All JSON TEXT; audio is
// base64 PCM16 little-endian: 16 kHz from the client, 24 kHz from the server.
//
//   client → server
//     setup            first: model, response modality AUDIO, voice, system instruction,
//                      automatic activity detection on or off, transcription of both sides,
//                      function declarations, and a session resumption handle (to resume)
//     realtimeInput    {audio: {data, mimeType}} | {activityStart: {}} | {activityEnd: {}}
//                      | {text} (the caller's key presses)
//     toolResponse     {functionResponses: [{id, name, response}]}
//   server → client
//     setupComplete
//     serverContent    modelTurn.parts[].inlineData (audio), interrupted, turnComplete,
//                      generationComplete, inputTranscription / outputTranscription {text}
//     toolCall         {functionCalls: [{id, name, args}]};  toolCallCancellation {ids}
//     goAway           {timeLeft}: the server will close soon — reconnect with the handle
//     sessionResumptionUpdate {newHandle, resumable}
//
// A server message can carry several of these at once, so it decodes into one struct of
// optionals. Unknown top-level fields are ignored (usageMetadata); a message with none of the
// known ones is `isEmpty` (counted by the agent). Pure: bytes in, messages out; typed errors.
import AudioBridgeCore

public struct GeminiLiveSetup: Equatable, Sendable {
    public var model = "models/gemini-2.5-flash-native-audio-preview-09-2025"
    public var voice: String?
    public var systemInstruction = ""
    /// false: the client says when the caller's speech starts and ends (activityStart/End).
    public var automaticActivityDetection = true
    public var functions: [RealtimeTool] = []
    /// A handle from sessionResumptionUpdate: the server restores the session's context.
    public var resumptionHandle: String?

    public init() {}
}

public enum GeminiLiveClientMessage: Equatable, Sendable {
    case setup(GeminiLiveSetup)
    /// PCM16 little-endian at `sampleRate`.
    case audio([UInt8], sampleRate: Int)
    case activityStart
    case activityEnd
    case text(String)
    /// `response` is a JSON object's text.
    case toolResponse(id: String, name: String, response: String)
}

public struct GeminiFunctionCall: Equatable, Sendable {
    public var id: String
    public var name: String
    /// The arguments as JSON text.
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

public struct GeminiLiveServerMessage: Equatable, Sendable {
    public var setupComplete = false
    /// Model audio (PCM16 little-endian) from modelTurn parts, in order.
    public var audio: [UInt8] = []
    public var interrupted = false
    public var turnComplete = false
    public var inputTranscription: String?
    public var outputTranscription: String?
    public var functionCalls: [GeminiFunctionCall] = []
    public var cancelledCalls: [String] = []
    /// goAway's timeLeft as sent ("10s"), or nil when there is none.
    public var goAway: String?
    public var resumptionHandle: String?

    public init() {}

    public var isEmpty: Bool { self == GeminiLiveServerMessage() }
}

public enum GeminiLiveError: Error, Equatable, Sendable {
    case badJSON(JSONError)
    case notAnObject
    case missingField(String)
    case badAudio
}

public enum GeminiLiveCodec {
    public static let maximumMessageBytes = 4 << 20

    public static func encode(_ message: GeminiLiveClientMessage) -> [UInt8] {
        let value: JSONValue
        switch message {
        case .setup(let setup):
            value = .object([("setup", setupJSON(setup))])
        case .audio(let bytes, let rate):
            value = .object([("realtimeInput", .object([("audio", .object([
                ("data", .string(Base64.encode(bytes))), ("mimeType", .string("audio/pcm;rate=\(rate)")),
            ]))]))])
        case .activityStart:
            value = .object([("realtimeInput", .object([("activityStart", .object([]))]))])
        case .activityEnd:
            value = .object([("realtimeInput", .object([("activityEnd", .object([]))]))])
        case .text(let text):
            value = .object([("realtimeInput", .object([("text", .string(text))]))])
        case .toolResponse(let id, let name, let response):
            let parsed = (try? JSONParser.parse(Array(response.utf8))).flatMap { value -> JSONValue? in
                if case .object = value { return value } else { return nil }
            } ?? .object([("result", .string(response))])
            value = .object([("toolResponse", .object([("functionResponses", .array([
                .object([("id", .string(id)), ("name", .string(name)), ("response", parsed)]),
            ]))]))])
        }
        var bytes: [UInt8] = []
        value.write(into: &bytes)
        return bytes
    }

    private static func setupJSON(_ setup: GeminiLiveSetup) -> JSONValue {
        var generation: [(String, JSONValue)] = [("responseModalities", ["AUDIO"])]
        if let voice = setup.voice {
            generation.append(("speechConfig", .object([("voiceConfig", .object([("prebuiltVoiceConfig", .object([("voiceName", .string(voice))]))]))])))
        }
        var fields: [(String, JSONValue)] = [("model", .string(setup.model)), ("generationConfig", .object(generation))]
        if !setup.systemInstruction.isEmpty {
            fields.append(("systemInstruction", .object([("parts", .array([.object([("text", .string(setup.systemInstruction))])]))])))
        }
        fields.append(("realtimeInputConfig", .object([("automaticActivityDetection", .object([("disabled", .bool(!setup.automaticActivityDetection))]))])))
        fields.append(("inputAudioTranscription", .object([])))
        fields.append(("outputAudioTranscription", .object([])))
        if !setup.functions.isEmpty {
            fields.append(("tools", .array([.object([("functionDeclarations", .array(setup.functions.map {
                .object([("name", .string($0.name)), ("description", .string($0.description)), ("parameters", $0.parameters)])
            }))])])))
        }
        fields.append(("sessionResumption", setup.resumptionHandle.map { .object([("handle", .string($0))]) } ?? .object([])))
        return .object(fields)
    }

    public static func decode(_ text: [UInt8]) throws(GeminiLiveError) -> GeminiLiveServerMessage {
        let message: JSONValue
        do throws(JSONError) { message = try JSONParser.parse(text, maximumBytes: maximumMessageBytes) } catch { throw .badJSON(error) }
        guard case .object = message else { throw .notAnObject }
        var out = GeminiLiveServerMessage()
        out.setupComplete = message["setupComplete"] != nil
        if let content = message["serverContent"] {
            for part in content["modelTurn"]?["parts"]?.array ?? [] {
                guard let inline = part["inlineData"] else { continue }
                guard let data = inline["data"]?.string else { throw .missingField("serverContent.modelTurn.parts[].inlineData.data") }
                if let mime = inline["mimeType"]?.string, !mime.hasPrefix("audio/pcm") { continue }
                do throws(Base64.DecodingError) { try Base64.decode(Array(data.utf8), into: &out.audio) } catch { throw .badAudio }
            }
            out.interrupted = content["interrupted"]?.bool ?? false
            out.turnComplete = content["turnComplete"]?.bool ?? false
            out.inputTranscription = content["inputTranscription"]?["text"]?.string
            out.outputTranscription = content["outputTranscription"]?["text"]?.string
        }
        if let call = message["toolCall"] {
            for function in call["functionCalls"]?.array ?? [] {
                guard let id = function["id"]?.string else { throw .missingField("toolCall.functionCalls[].id") }
                guard let name = function["name"]?.string else { throw .missingField("toolCall.functionCalls[].name") }
                out.functionCalls.append(GeminiFunctionCall(id: id, name: name, arguments: function["args"]?.jsonText ?? "{}"))
            }
        }
        if let cancellation = message["toolCallCancellation"] {
            out.cancelledCalls = (cancellation["ids"]?.array ?? []).compactMap(\.string)
        }
        if let goAway = message["goAway"] {
            out.goAway = goAway["timeLeft"]?.string ?? ""
        }
        if let update = message["sessionResumptionUpdate"], update["resumable"]?.bool ?? true, let handle = update["newHandle"]?.string {
            out.resumptionHandle = handle
        }
        return out
    }
}
