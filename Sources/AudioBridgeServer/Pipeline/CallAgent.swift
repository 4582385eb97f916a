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
    /// Azure OpenAI: the same protocol and agent (`RealtimeAgent`) at a deployment's URL.
    static let azure = "azure"
    /// Deepgram's Voice Agent API (`DeepgramAgent`).
    static let deepgram = "deepgram"
    /// An ElevenLabs agent (`ElevenLabsAgent`).
    static let elevenLabs = "elevenlabs"
    /// Google's Gemini Live API (`GeminiLiveAgent`).
    static let gemini = "gemini"

    static func isPCMStream(_ name: String) -> Bool { name.hasPrefix("ws://") || name.hasPrefix("wss://") }

    /// Checks the agent once, at server start, and returns the settings every call gets: the
    /// session's agent format fixed for the agent, a `wav:` file read once (not per call, on
    /// an event loop), the session settings validated.
    static func validate(_ settings: CallSettings) throws -> CallSettings {
        var settings = settings
        let name = settings.agent
        if isPCMStream(name) {
            guard ServerURL.webSocket(name) != nil, case .pcm16 = settings.session.agentFormat else { throw AudioBridgeError.invalidArgument }
            settings.pcmStream.fallbackFile = try fallbackFile(settings.pcmStream.fallbackAgent)
        } else if name == openAI || name == azure {
            guard var realtime = settings.realtime else { throw AudioBridgeError.invalidArgument }
            realtime.fallbackFile = try fallbackFile(realtime.fallbackAgent)
            settings.realtime = realtime
            // G.711 straight through when the phone side is G.711 (no resampling at all), else the
            // API's PCM16 at 24 kHz.
            settings.session.agentFormat = realtime.allowG711Passthrough && settings.session.phoneCodec != .slin16
                ? .g711Passthrough : .pcm16(sampleRate: 24000)
        } else if name == deepgram {
            guard var configuration = settings.deepgram else { throw AudioBridgeError.invalidArgument }
            configuration.fallbackFile = try fallbackFile(configuration.fallbackAgent)
            settings.deepgram = configuration
            // μ-law or A-law straight through on a G.711 phone side; linear16 at 16 kHz otherwise.
            settings.session.agentFormat = configuration.allowG711Passthrough && settings.session.phoneCodec != .slin16
                ? .g711Passthrough : .pcm16(sampleRate: 16000)
        } else if name == gemini {
            guard var configuration = settings.gemini else { throw AudioBridgeError.invalidArgument }
            configuration.fallbackFile = try fallbackFile(configuration.fallbackAgent)
            settings.gemini = configuration
            settings.session.agentFormat = .pcm16(sampleRate: GeminiLiveAgentConfiguration.outputSampleRate)
        } else if name == elevenLabs {
            guard var configuration = settings.elevenLabs, let rate = ElevenLabsAgentConfiguration.sampleRate(of: configuration.format) else {
                throw AudioBridgeError.invalidArgument
            }
            configuration.fallbackFile = try fallbackFile(configuration.fallbackAgent)
            settings.elevenLabs = configuration
            if configuration.format == "ulaw_8000", settings.session.phoneCodec == .ulaw {
                settings.session.agentFormat = .g711Passthrough  // μ-law straight through
            } else {
                // PCM16 at the agent's rate (ulaw_8000 on another phone side: the agent
                // converts between μ-law and PCM16 at 8 kHz).
                settings.session.agentFormat = .pcm16(sampleRate: rate)
            }
        } else {
            let (agent, followUp) = try LocalAgentURI.splitFollowUp(name)
            // A transfer request needs a host that maps its number to a target (the Asterisk
            // module does); the server has none, so it is refused here rather than ignored.
            if case .transfer = followUp { throw AudioBridgeError.invalidArgument }
            if agent.hasPrefix("wav:") {
                let path = String(agent.dropFirst(4))
                guard !path.isEmpty else { throw AudioBridgeError.invalidArgument }
                let file = try WavFile(contentsOf: path)
                _ = try WavAgent(file: file)
                settings.wavFile = file
                settings.wavFollowUp = followUp
            } else {
                _ = try LocalAgentURI.makeAgent(name)
            }
        }
        try settings.session.validate()
        return settings
    }

    /// Checks a network agent's fallback (a built-in agent) and reads a `wav:` one's file.
    private static func fallbackFile(_ name: String) throws -> WavFile? {
        _ = try LocalAgentURI.makeAgent(name)
        guard name.hasPrefix("wav:") else { return nil }
        return try WavFile(contentsOf: String(name.dropFirst(4)))
    }

    /// A new agent for one call, living on the call's event loop. `metadata` describes the call
    /// (Twilio's stream parameters: caller, callSid, direction, purpose; AudioSocket's call id):
    /// the model gets it with its instructions; the local agents have no use for it.
    static func make(_ settings: CallSettings, metadata: [(String, String)], eventLoop: any EventLoop, logger: Logger) throws -> AgentTransport {
        let name = settings.agent
        if isPCMStream(name) {
            var pcmStream = settings.pcmStream
            pcmStream.url = name
            pcmStream.callMetadata = metadata
            return PCMWebSocketAgent(configuration: pcmStream, eventLoop: eventLoop, logger: logger)
        }
        if name == openAI || name == azure, var realtime = settings.realtime {
            realtime.callMetadata = metadata
            return RealtimeAgent(configuration: realtime, eventLoop: eventLoop, logger: logger)
        }
        if name == deepgram, var configuration = settings.deepgram {
            configuration.callMetadata = metadata
            return DeepgramAgent(configuration: configuration, eventLoop: eventLoop, logger: logger)
        }
        if name == gemini, var configuration = settings.gemini {
            configuration.callMetadata = metadata
            return GeminiLiveAgent(configuration: configuration, eventLoop: eventLoop, logger: logger)
        }
        if name == elevenLabs, var configuration = settings.elevenLabs {
            configuration.callMetadata = metadata
            return ElevenLabsAgent(configuration: configuration, eventLoop: eventLoop, logger: logger)
        }
        if let file = settings.wavFile { return try WavAgent(file: file, then: settings.wavFollowUp) }
        return try LocalAgentURI.makeAgent(name)
    }
}
