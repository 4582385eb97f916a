// SPDX-License-Identifier: MIT
// Deepgram's Voice Agent API (wss://agent.deepgram.com/v1/agent/converse, header
// `Authorization: Token KEY`), from its public reference. Audio is BINARY messages both ways in
// the encodings the Settings message declares (μ-law 8 kHz, or linear16 at a rate); everything
// else is JSON TEXT with a "type":
//
//   client → server
//     Settings              first, before any audio: audio formats, the agent's listen/think/
//                           speak providers, prompt, functions, greeting, and earlier turns as
//                           agent.context.messages [{type: History, role, content}]
//     KeepAlive             while no audio flows
//     FunctionCallResponse  {id, name, content}: the result of a client-side function call
//     InjectUserMessage     {content}: text as if the user said it (the caller's key presses)
//   server → client
//     Welcome {request_id}, SettingsApplied
//     ConversationText {role: user|assistant, content}
//     UserStartedSpeaking   the user talks: drop the agent audio still queued (barge-in)
//     AgentThinking, AgentStartedSpeaking, AgentAudioDone (the answer's last audio has been sent)
//     FunctionCallRequest {functions: [{id, name, arguments (a JSON string), client_side}]}
//     Error {description, code}, Warning {description, code}
//
// Unknown types decode as `.unknown` (counted by the agent); malformed JSON or a known type
// missing what it needs is a typed error. Pure: bytes in, messages out.

public struct DeepgramAgentSettings: Equatable, Sendable {
    public enum Encoding: String, Equatable, Sendable {
        case mulaw
        case alaw
        case linear16
    }

    public var inputEncoding = Encoding.linear16
    public var inputSampleRate = 16000
    public var outputEncoding = Encoding.linear16
    public var outputSampleRate = 16000
    public var language = "en"
    public var listenModel = "nova-3"
    public var thinkProvider = "open_ai"
    public var thinkModel = "gpt-4o-mini"
    public var prompt = ""
    public var speakModel = "aura-2-thalia-en"
    /// Said by the agent when the conversation starts; nil for none (and after a reconnect).
    public var greeting: String?
    public var functions: [RealtimeTool] = []
    /// Earlier turns, oldest first (role "user" or "assistant").
    public var history: [(role: String, content: String)] = []

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.inputEncoding == b.inputEncoding && a.inputSampleRate == b.inputSampleRate && a.outputEncoding == b.outputEncoding
            && a.outputSampleRate == b.outputSampleRate && a.language == b.language && a.listenModel == b.listenModel
            && a.thinkProvider == b.thinkProvider && a.thinkModel == b.thinkModel && a.prompt == b.prompt && a.speakModel == b.speakModel
            && a.greeting == b.greeting && a.functions == b.functions
            && a.history.count == b.history.count && zip(a.history, b.history).allSatisfy { $0.role == $1.role && $0.content == $1.content }
    }
}

public enum DeepgramClientMessage: Equatable, Sendable {
    case settings(DeepgramAgentSettings)
    case keepAlive
    case functionCallResponse(id: String, name: String, content: String)
    case injectUserMessage(content: String)
}

public struct DeepgramFunctionCall: Equatable, Sendable {
    public var id: String
    public var name: String
    /// The arguments as the JSON text the model wrote.
    public var arguments: String
    /// Whether the client carries it out (false: the server did, and tells in a FunctionCallResponse).
    public var clientSide: Bool

    public init(id: String, name: String, arguments: String, clientSide: Bool) {
        self.id = id
        self.name = name
        self.arguments = arguments
        self.clientSide = clientSide
    }
}

public enum DeepgramServerMessage: Equatable, Sendable {
    case welcome(requestID: String)
    case settingsApplied
    case conversationText(role: String, content: String)
    case userStartedSpeaking
    case agentThinking
    case agentStartedSpeaking
    case agentAudioDone
    case functionCallRequest([DeepgramFunctionCall])
    case error(description: String, code: String)
    case warning(description: String, code: String)
    case unknown(type: String)
}

public enum DeepgramAgentError: Error, Equatable, Sendable {
    case badJSON(JSONError)
    case notAnObject
    case missingField(type: String, field: String)
}

public enum DeepgramAgentCodec {
    /// Control messages are small; a larger one is refused before parsing.
    public static let maximumMessageBytes = 1 << 20

    public static func encode(_ message: DeepgramClientMessage) -> [UInt8] {
        let value: JSONValue
        switch message {
        case .settings(let settings):
            value = settingsJSON(settings)
        case .keepAlive:
            value = ["type": "KeepAlive"]
        case .functionCallResponse(let id, let name, let content):
            value = .object([("type", "FunctionCallResponse"), ("id", .string(id)), ("name", .string(name)), ("content", .string(content))])
        case .injectUserMessage(let content):
            value = .object([("type", "InjectUserMessage"), ("content", .string(content))])
        }
        var bytes: [UInt8] = []
        value.write(into: &bytes)
        return bytes
    }

    private static func settingsJSON(_ s: DeepgramAgentSettings) -> JSONValue {
        func rate(_ hz: Int) -> JSONValue { .number(String(hz)) }
        var think: [(String, JSONValue)] = [("provider", .object([("type", .string(s.thinkProvider)), ("model", .string(s.thinkModel))]))]
        if !s.prompt.isEmpty { think.append(("prompt", .string(s.prompt))) }
        if !s.functions.isEmpty {
            think.append(("functions", .array(s.functions.map {
                .object([("name", .string($0.name)), ("description", .string($0.description)), ("parameters", $0.parameters)])
            })))
        }
        var agent: [(String, JSONValue)] = [
            ("language", .string(s.language)),
            ("listen", .object([("provider", .object([("type", "deepgram"), ("model", .string(s.listenModel))]))])),
            ("think", .object(think)),
            ("speak", .object([("provider", .object([("type", "deepgram"), ("model", .string(s.speakModel))]))])),
        ]
        if let greeting = s.greeting, !greeting.isEmpty { agent.append(("greeting", .string(greeting))) }
        if !s.history.isEmpty {
            agent.append(("context", .object([("messages", .array(s.history.map {
                .object([("type", "History"), ("role", .string($0.role)), ("content", .string($0.content))])
            }))])))
        }
        return .object([
            ("type", "Settings"),
            ("audio", .object([
                ("input", .object([("encoding", .string(s.inputEncoding.rawValue)), ("sample_rate", rate(s.inputSampleRate))])),
                ("output", .object([("encoding", .string(s.outputEncoding.rawValue)), ("sample_rate", rate(s.outputSampleRate)), ("container", "none")])),
            ])),
            ("agent", .object(agent)),
        ])
    }

    public static func decode(_ text: [UInt8]) throws(DeepgramAgentError) -> DeepgramServerMessage {
        let message: JSONValue
        do throws(JSONError) { message = try JSONParser.parse(text, maximumBytes: maximumMessageBytes) } catch { throw .badJSON(error) }
        guard case .object = message else { throw .notAnObject }
        guard let type = message["type"]?.string else { throw .missingField(type: "?", field: "type") }
        func string(_ field: String) throws(DeepgramAgentError) -> String {
            guard let value = message[field]?.string else { throw .missingField(type: type, field: field) }
            return value
        }
        switch type {
        case "Welcome":
            return .welcome(requestID: message["request_id"]?.string ?? "")
        case "SettingsApplied":
            return .settingsApplied
        case "ConversationText":
            return .conversationText(role: try string("role"), content: try string("content"))
        case "UserStartedSpeaking":
            return .userStartedSpeaking
        case "AgentThinking":
            return .agentThinking
        case "AgentStartedSpeaking":
            return .agentStartedSpeaking
        case "AgentAudioDone":
            return .agentAudioDone
        case "FunctionCallRequest":
            guard let functions = message["functions"]?.array else { throw .missingField(type: type, field: "functions") }
            var calls: [DeepgramFunctionCall] = []
            for function in functions {
                guard let id = function["id"]?.string else { throw .missingField(type: type, field: "functions[].id") }
                guard let name = function["name"]?.string else { throw .missingField(type: type, field: "functions[].name") }
                // The arguments are a JSON string; an object is taken as written.
                let arguments = function["arguments"]?.string ?? function["arguments"].map { $0.jsonText } ?? "{}"
                calls.append(DeepgramFunctionCall(id: id, name: name, arguments: arguments, clientSide: function["client_side"]?.bool ?? true))
            }
            return .functionCallRequest(calls)
        case "Error":
            return .error(description: message["description"]?.string ?? "", code: message["code"]?.string ?? "")
        case "Warning":
            return .warning(description: message["description"]?.string ?? "", code: message["code"]?.string ?? "")
        default:
            return .unknown(type: type)
        }
    }
}
