// SPDX-License-Identifier: MIT
// What every call gets whichever transport brings it: its agent, the agent's connection
// settings, the session settings and where its recording goes. Each server's configuration
// holds one of these next to its own listener settings.
import AudioBridgeSession
import AudioBridgeTransports

public struct CallSettings: Sendable {
    /// The agent for every call: a built-in one ("echo", "tone[:HZ[:MS]]", "wav:PATH") or
    /// "openai" (then `realtime` says how to reach the model), or a ws:// / wss:// URL (raw PCM).
    public var agent = "echo"
    public var realtime: RealtimeAgentConfiguration?
    /// For "deepgram": how to reach Deepgram's Voice Agent API and what to ask of it.
    public var deepgram: DeepgramAgentConfiguration?
    /// For "elevenlabs": the agent's conversation URL, format and options.
    public var elevenLabs: ElevenLabsAgentConfiguration?
    /// For "gemini": how to reach the Gemini Live API and what to ask of it.
    public var gemini: GeminiLiveAgentConfiguration?
    /// For a ws:// or wss:// agent: how to reach it (its URL is the agent name).
    public var pcmStream = PCMWebSocketAgentConfiguration()
    /// The session settings; each transport sets the phone codec and frame length it carries.
    public var session = SessionConfiguration()
    /// When set, one stereo WAV per call is written here (caller left, agent as heard right).
    public var recordDirectory: String?
    /// A `wav:` agent's file, read once when the server checks its settings.
    var wavFile: WavFile?
    /// A `wav:` agent's `?then=hangup`.
    var wavFollowUp = AgentFollowUp.none

    public init() {}
}
