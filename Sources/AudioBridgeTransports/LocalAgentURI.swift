// SPDX-License-Identifier: MIT
// Names for the built-in local agents, as hosts and the CLI spell them:
//   "echo"  |  "tone" / "tone:HZ" / "tone:HZ:MS"  |  "wav:PATH"
// and, after tone or wav, "?then=hangup" or "?then=transfer:N": a prompt that ends or
// transfers the call once the caller has heard it (see AgentFollowUp).
import AudioBridgeCore

public enum LocalAgentURI {
    /// Creates the agent `uri` names. Throws `.invalidArgument` for an unknown or malformed name,
    /// or the WAV reader's error for a file it cannot use. Control thread (reads files).
    public static func makeAgent(_ uri: String) throws(AudioBridgeError) -> AgentTransport {
        let (uri, followUp) = try splitFollowUp(uri)
        let parts = uri.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let name = parts[0], argument = parts.count > 1 ? String(parts[1]) : nil
        switch name {
        case "echo":
            guard argument == nil, followUp == .none else { throw .invalidArgument }
            return EchoAgent()
        case "tone":
            let numbers = argument.map { $0.split(separator: ":", omittingEmptySubsequences: false).map { Double($0) } } ?? []
            guard numbers.count <= 2, numbers.allSatisfy({ $0 != nil }) else { throw .invalidArgument }
            let frequency = numbers.first.flatMap { $0 } ?? 440
            let milliseconds = numbers.count > 1 ? numbers[1]! : 2000
            guard milliseconds.isFinite, milliseconds >= 1, milliseconds <= 3_600_000 else { throw .invalidArgument }
            return try ToneAgent(frequency: frequency, milliseconds: Int(milliseconds), then: followUp)
        case "wav":
            guard let path = argument, !path.isEmpty else { throw .invalidArgument }
            return try WavAgent(path: path, then: followUp)
        default:
            throw .invalidArgument
        }
    }

    /// The agent's name without its "?then=…" suffix, and the follow-up that suffix asks for.
    public static func splitFollowUp(_ uri: String) throws(AudioBridgeError) -> (agent: Substring, followUp: AgentFollowUp) {
        guard let suffix = uri.firstRange(of: "?then=") else { return (Substring(uri), .none) }
        return (uri[..<suffix.lowerBound], try parseFollowUp(uri[suffix.upperBound...]))
    }

    /// "hangup" or "transfer:N", N from 1 to 2^32 − 1.
    private static func parseFollowUp(_ text: Substring) throws(AudioBridgeError) -> AgentFollowUp {
        if text == "hangup" { return .hangup }
        guard text.hasPrefix("transfer:"), let request = UInt32(text.dropFirst("transfer:".count)), request > 0 else {
            throw .invalidArgument
        }
        return .transfer(request: UInt64(request))
    }
}
