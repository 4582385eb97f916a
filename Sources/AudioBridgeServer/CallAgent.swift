// SPDX-License-Identifier: MIT
// The agent each call gets: a built-in local agent by name (echo, tone, wav:…), or "openai", the
// Realtime model, which also decides the session's agent format for the phone side it serves.
import AudioBridgeCore
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore

enum CallAgent {
    static let openAI = "openai"

    /// Checks `name` once, at server start; returns the session configuration the agent needs.
    static func validate(_ name: String, realtime: RealtimeAgentConfiguration?, session: SessionConfiguration) throws -> SessionConfiguration {
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

    /// A new agent for one call, living on the call's event loop.
    static func make(_ name: String, realtime: RealtimeAgentConfiguration?, eventLoop: any EventLoop, logger: Logger) throws -> AgentTransport {
        if name == openAI, let realtime { return RealtimeAgent(configuration: realtime, eventLoop: eventLoop, logger: logger) }
        return try LocalAgentURI.makeAgent(name)
    }
}
