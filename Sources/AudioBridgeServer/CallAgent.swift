// SPDX-License-Identifier: MIT
// The agent each call gets: a built-in local agent by name (echo, tone, wav:…); "openai", the
// Realtime model, which also decides the session's agent format for the phone side it serves; or
// a ws:// / wss:// URL, the user's own server speaking the raw-PCM protocol at the agent rate.
import AudioBridgeCore
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore

enum CallAgent {
    static let openAI = "openai"

    /// Checks `name` once, at server start; returns the session configuration the agent needs.
    static func isPCMStream(_ name: String) -> Bool { name.hasPrefix("ws://") || name.hasPrefix("wss://") }

    static func validate(_ name: String, realtime: RealtimeAgentConfiguration?, session: SessionConfiguration) throws -> SessionConfiguration {
        if isPCMStream(name) {
            guard WebSocketURL(name) != nil, case .pcm16 = session.agentFormat else { throw AudioBridgeError.invalidArgument }
            return session
        }
        guard name == openAI else {
            _ = try LocalAgentURI.makeAgent(name)
            return session
        }
        guard let realtime else { throw AudioBridgeError.invalidArgument }
        var session = session
        // G.711 straight through when the phone side is G.711 (no resampling at all), else the
        // API's PCM16 at 24 kHz.
        session.agentFormat = realtime.allowG711Passthrough && session.phoneCodec != .slin16 ? .g711Passthrough : .pcm16(sampleRate: 24000)
        return session
    }

    /// A new agent for one call, living on the call's event loop. `metadata` describes the call
    /// (Twilio's stream parameters: caller, callSid, direction, purpose; AudioSocket's call id):
    /// the model gets it with its instructions; the local agents have no use for it.
    static func make(_ name: String, realtime: RealtimeAgentConfiguration?, pcmStream: PCMWebSocketAgentConfiguration,
                     metadata: [(String, String)], eventLoop: any EventLoop, logger: Logger) throws -> AgentTransport {
        if isPCMStream(name) {
            var pcmStream = pcmStream
            pcmStream.url = name
            pcmStream.callMetadata = metadata
            return PCMWebSocketAgent(configuration: pcmStream, eventLoop: eventLoop, logger: logger)
        }
        if name == openAI, var realtime {
            realtime.callMetadata = metadata
            return RealtimeAgent(configuration: realtime, eventLoop: eventLoop, logger: logger)
        }
        return try LocalAgentURI.makeAgent(name)
    }
}
