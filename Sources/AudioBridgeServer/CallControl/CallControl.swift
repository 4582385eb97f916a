// SPDX-License-Identifier: MIT
// What an agent may ask of the call it serves — the model's call-control tools — and what the
// call answers. The pipeline carries each request out through its phone side, in the
// protocol's own way, or refuses it with a reason the agent passes on to the model. All on
// the call's event loop.
import AudioBridgeProtocols

/// How a call-control request went; the text is what the model is told.
enum CallControlOutcome: Equatable {
    case done(String)
    case refused(String)

    /// The outcome as the JSON text a function call's output carries.
    var json: String {
        switch self {
        case .done(let detail): JSONValue.object([("ok", .bool(true)), ("detail", .string(detail))]).jsonText
        case .refused(let reason): JSONValue.object([("ok", .bool(false)), ("error", .string(reason))]).jsonText
        }
    }
}

/// What the phone side of a call can do besides audio, for the agent to offer the model only
/// the tools that can work.
struct CallControlAbilities: Equatable {
    var transfer = false
    var sendDigits = false
}

protocol CallControl: AnyObject {
    var abilities: CallControlAbilities { get }
    /// Ends the call now, in the phone side's own way (the agent waits until its last answer
    /// has been heard to the end before asking).
    func endCall(reason: String)
    /// Transfers the caller to `target` (a number or a SIP URI); `completion` gets the outcome.
    func transfer(to target: String, completion: @escaping (CallControlOutcome) -> Void)
    /// Sends DTMF `digits` (0–9, *, #, A–D) to the far end.
    func sendDigits(_ digits: String) -> CallControlOutcome
}

/// An agent that can ask for call control: the pipeline hands itself over once the agent is
/// made (weakly held: the pipeline owns the agent).
protocol CallControlled: AnyObject {
    var callControl: CallControl? { get set }
}
