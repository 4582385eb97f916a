// SPDX-License-Identifier: MIT
// The functions the bridge declares to a model and carries out itself: call control
// (end_call, transfer_call, send_dtmf — only those the phone side can do are declared) and the
// deployment's own tools (`--tools FILE`), posted to `--tool-webhook URL` with the call's id and
// metadata, whose answer becomes the call's result. Every call gets a result the model reads:
// a refusal, an HTTP error and a timeout are results too. On the call's event loop.
import AudioBridgeProtocols
import Logging
import NIOCore

public struct CallToolsConfiguration: Sendable {
    /// Declare end_call, transfer_call and send_dtmf (those the phone side supports).
    public var callControl = true
    /// More functions (name, description, JSON Schema parameters), carried out by the webhook.
    public var webhookTools: [RealtimeTool] = []
    /// Where the webhook tools are posted (http:// or https://).
    public var webhookURL: String?
    public var webhookTimeoutMilliseconds: Int64 = 8000
    /// PEM certificates trusted for an https:// webhook besides the system's.
    public var webhookTrustRootsPEM: [UInt8]?

    public init() {}

    /// Whether `url` is one the webhook can be posted to (http:// or https://, host, port).
    public static func isWebhookURL(_ url: String) -> Bool { ServerURL.http(url) != nil }

    /// Reads `--tools FILE`'s contents: a JSON array of {name, description, parameters}
    /// (an OpenAI-style {"type":"function", …} wrapper is accepted too).
    public static func tools(fromJSON bytes: [UInt8]) throws -> [RealtimeTool] {
        guard case .array(let list) = try JSONParser.parse(bytes) else { throw CallToolsError.notAList }
        return try list.map { entry in
            let function = entry["function"] ?? entry
            guard let name = function["name"]?.string, !name.isEmpty else { throw CallToolsError.missingName }
            guard !CallTools.builtInNames.contains(name) else { throw CallToolsError.reservedName(name) }
            return RealtimeTool(name: name, description: function["description"]?.string ?? "",
                                parameters: function["parameters"] ?? ["type": "object", "properties": [:]])
        }
    }
}

public enum CallToolsError: Error, Equatable {
    case notAList
    case missingName
    case reservedName(String)
}

/// What a model's function call asks of the agent besides its result.
enum CallToolAction: Equatable {
    /// Answer with the result now and ask the model to go on.
    case answer(String)
    /// End the call once the answer now playing has been heard to its end.
    case endAfterPlayout
    /// Transfer once the answer now playing has been heard to its end.
    case transferAfterPlayout(target: String)
    /// The result comes later (a webhook): the agent answers when `completion` runs.
    case pending
}

final class CallTools {
    static let endCall = "end_call"
    static let transferCall = "transfer_call"
    static let sendDTMF = "send_dtmf"
    static let builtInNames: Set<String> = [endCall, transferCall, sendDTMF]

    private let configuration: CallToolsConfiguration
    private let callID: String
    private let metadata: [(String, String)]
    private let eventLoop: any EventLoop
    private let logger: Logger

    init(configuration: CallToolsConfiguration, callID: String, metadata: [(String, String)], eventLoop: any EventLoop, logger: Logger) {
        self.configuration = configuration
        self.callID = callID
        self.metadata = metadata
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// The functions to declare, given what the call's phone side can do.
    func definitions(abilities: CallControlAbilities?) -> [RealtimeTool] {
        var tools: [RealtimeTool] = []
        if configuration.callControl, let abilities {
            tools.append(RealtimeTool(name: Self.endCall,
                                      description: "Hang up the phone call. Say goodbye first: the call ends once the caller has heard your answer to its end.",
                                      parameters: ["type": "object", "properties": ["reason": ["type": "string", "description": "Why the call ends, for the log."]]]))
            if abilities.transfer {
                tools.append(RealtimeTool(name: Self.transferCall,
                                          description: "Transfer the caller to another phone number (E.164, e.g. +14155550100) or SIP address. Tell the caller first: the transfer happens once they have heard your answer.",
                                          parameters: ["type": "object", "properties": ["target": ["type": "string", "description": "The number or SIP URI to transfer to."]],
                                                       "required": ["target"]]))
            }
            if abilities.sendDigits {
                tools.append(RealtimeTool(name: Self.sendDTMF, description: "Send touch-tone (DTMF) digits on the call, e.g. to choose an option in an automated phone menu.",
                                          parameters: ["type": "object", "properties": ["digits": ["type": "string", "description": "Digits 0-9, * and #, and A-D."]],
                                                       "required": ["digits"]]))
            }
        }
        return tools + (configuration.webhookURL == nil ? [] : configuration.webhookTools)
    }

    /// Carries out one function call. `completion` is used only for `.pending`.
    func run(name: String, arguments: String, control: CallControl?, completion: @escaping (String) -> Void) -> CallToolAction {
        let parsed = (try? JSONParser.parse(Array(arguments.utf8))) ?? .object([])
        logger.info("model called a tool", metadata: ["tool": "\(name)"])
        switch name {
        case Self.endCall where configuration.callControl:
            guard control != nil else { return .answer(CallControlOutcome.refused("the call is already over").json) }
            return .endAfterPlayout
        case Self.transferCall where configuration.callControl:
            guard let target = parsed["target"]?.string, !target.isEmpty else { return .answer(CallControlOutcome.refused("transfer_call needs a target").json) }
            guard let control, control.abilities.transfer else { return .answer(CallControlOutcome.refused("this call cannot be transferred").json) }
            return .transferAfterPlayout(target: target)
        case Self.sendDTMF where configuration.callControl:
            guard let digits = parsed["digits"]?.string else { return .answer(CallControlOutcome.refused("send_dtmf needs digits").json) }
            guard let control else { return .answer(CallControlOutcome.refused("the call is already over").json) }
            return .answer(control.sendDigits(digits).json)
        default:
            guard let url = configuration.webhookURL.flatMap(ServerURL.http), configuration.webhookTools.contains(where: { $0.name == name }) else {
                return .answer(CallControlOutcome.refused("there is no tool named \(name)").json)
            }
            post(to: url, name: name, arguments: parsed, completion: completion)
            return .pending
        }
    }

    /// The webhook round trip: a 2xx answer's body is the result (`{"ok":true}` when empty);
    /// anything else is a result that says what went wrong.
    private func post(to url: ServerURL, name: String, arguments: JSONValue, completion: @escaping (String) -> Void) {
        let body = JSONValue.object([("call_id", .string(callID)), ("tool", .string(name)), ("arguments", arguments),
                                     ("metadata", .object(metadata.map { ($0.0, .string($0.1)) }))]).jsonText
        let timeout = configuration.webhookTimeoutMilliseconds
        let logger = logger
        HTTPRequester.post(url, headers: [], contentType: "application/json", body: Array(body.utf8), timeout: .milliseconds(timeout),
                           trustRootsPEM: configuration.webhookTrustRootsPEM, eventLoop: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let answer) where (200..<300).contains(answer.status):
                completion(answer.body.isEmpty ? #"{"ok":true}"# : String(decoding: answer.body, as: UTF8.self))
            case .success(let answer):
                logger.warning("tool webhook refused", metadata: ["tool": "\(name)", "status": "\(answer.status)"])
                completion(CallControlOutcome.refused("the tool webhook answered HTTP \(answer.status)").json)
            case .failure(let error):
                logger.warning("tool webhook failed", metadata: ["tool": "\(name)", "cause": "\(error)"])
                let reason = if case HTTPRequestError.timedOut = error { "the tool did not answer within \(timeout) ms" } else { "the tool webhook failed: \(error)" }
                completion(CallControlOutcome.refused(reason).json)
            }
        }
    }
}
