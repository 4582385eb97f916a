// SPDX-License-Identifier: MIT
// What a session is created with. Everything here is fixed for the session's life; all memory
// the media path needs is sized from it at creation.
import AudioBridgeCore

/// The caller's audio as the host hands it over: 8 kHz, one of three encodings.
public enum PhoneCodec: UInt32, Sendable, CaseIterable {
    case ulaw = 0
    case alaw = 1
    /// Signed 16-bit native-endian linear PCM ("slin").
    case slin16 = 2

    public var bytesPerSample: Int { self == .slin16 ? 2 : 1 }
}

/// The agent's audio, both directions.
public enum AgentAudioFormat: Equatable, Sendable {
    /// Signed 16-bit native-endian PCM at 8000, 16000 or 24000 Hz.
    case pcm16(sampleRate: Int)
    /// The phone's own G.711 bytes, untouched both ways (the phone codec must be μ-law or A-law).
    case g711Passthrough

    /// Bytes per agent sample.
    public var bytesPerSample: Int { self == .g711Passthrough ? 1 : 2 }
}

/// The caller-speech detector's settings (AudioBridgeCore/CallerSpeechDetector): the barge-in
/// policy's minimum speech time, hangover and thresholds, the stricter one while the agent talks.
public typealias SpeechDetectorSettings = CallerSpeechDetector.Settings

/// Pause, then commit, else resume (AudioBridgeCore/BargeInArbiter): mode, confirmation time
/// and the longest pause.
public typealias BargeInArbitration = BargeInArbiter.Settings

public struct BargeInSettings: Equatable, Sendable {
    /// Whether caller speech over agent audio interrupts it. On-demand interrupts always work.
    public var enabled = true
    /// Length of the fade-out when playout is cut or paused (and of the fade-in when it
    /// resumes), 1–10 ms (never longer than a frame).
    public var fadeMilliseconds = 8
    public var detector = SpeechDetectorSettings()
    public var arbitration = BargeInArbitration()

    public init() {}
}

public struct SessionConfiguration: Equatable, Sendable {
    public var phoneCodec: PhoneCodec = .ulaw
    /// 10, 20 or 30 ms.
    public var frameMilliseconds = 20
    public var agentFormat: AgentAudioFormat = .pcm16(sampleRate: 24000)
    public var resamplerQuality = Resampler.defaultQuality
    /// Agent audio queued for the caller, held at 8 kHz. When full, `writeDownlink` accepts
    /// less (back-pressure); nothing is dropped: the agent side keeps the rest (the server's
    /// network agents in their DownlinkQueue, a C host in its own buffer) and offers it again
    /// on its next turn. So the queue only has to bridge the gap between two turns of the agent
    /// side (5–20 ms; a stalled event loop, rarely, a few hundred): 2 s leaves a wide margin and
    /// costs 32 KB a call, where 20 s cost 320 KB and held nothing a smaller queue loses.
    public var playoutCapacityMilliseconds = 2_000
    /// Caller audio waiting for the agent side to read it, which it does every turn (a network
    /// agent without a connection moves it to its own backlog); when full the oldest is kept and
    /// the newest frame is dropped and counted. 500 ms is 25 frames of slack: 24 KB at 24 kHz.
    public var uplinkCapacityMilliseconds = 500
    /// Events waiting for the host, per producer side; overflow is counted and reported.
    /// 64 is over a second of the busiest traffic (an event a frame) for a consumer that polls
    /// every frame or tick, as the server and the C engine do; a slower host raises it.
    public var eventCapacity = 64
    public var bargeIn = BargeInSettings()

    public init() {}

    public static let phoneSampleRate = 8000
    public static let supportedFrameMilliseconds = [10, 20, 30]
    public static let supportedAgentSampleRates = [8000, 16000, 24000]

    public var frameSamples: Int { frameMilliseconds * Self.phoneSampleRate / 1000 }
    public var frameBytes: Int { frameSamples * phoneCodec.bytesPerSample }

    /// The agent-side sample rate (passthrough runs at the phone's 8 kHz).
    public var agentSampleRate: Int {
        if case .pcm16(let rate) = agentFormat { return rate }
        return Self.phoneSampleRate
    }

    /// Checks every field; throws the error a C host gets for it.
    public func validate() throws(AudioBridgeError) {
        if let problem { throw problem.error }
    }

    /// The first value out of range: the error it is and a sentence naming the field (for a
    /// host's log); nil when the configuration is valid.
    public var problem: (error: AudioBridgeError, description: String)? {
        guard Self.supportedFrameMilliseconds.contains(frameMilliseconds) else { return (.invalidFrameDuration, "frame duration \(frameMilliseconds) ms is not 10, 20 or 30") }
        switch agentFormat {
        case .pcm16(let rate):
            guard Self.supportedAgentSampleRates.contains(rate) else { return (.unsupportedSampleRate, "agent rate \(rate) Hz is not one of \(Self.supportedAgentSampleRates.sorted())") }
        case .g711Passthrough:
            guard phoneCodec != .slin16 else { return (.invalidArgument, "G.711 passthrough needs a G.711 phone codec, not slin16") }
        }
        guard Resampler.qualityRange.contains(resamplerQuality) else { return (.unsupportedQuality, "resampler quality \(resamplerQuality) is not 0–10") }
        let detector = bargeIn.detector
        let ranges: [(String, Int, ClosedRange<Int>)] = [
            ("playout capacity (ms)", playoutCapacityMilliseconds, 1_000...600_000),
            ("uplink capacity (ms)", uplinkCapacityMilliseconds, 100...60_000),
            ("event capacity", eventCapacity, 16...65_536),
            ("fade (ms)", bargeIn.fadeMilliseconds, 1...min(10, frameMilliseconds)),
            ("minimum speech (ms)", detector.minimumSpeechMilliseconds, 0...1_280),
            ("hangover (ms)", detector.hangoverMilliseconds, 0...1_260),
            ("end of turn (ms)", detector.endOfTurnMilliseconds, 0...10_000),
        ]
        for (name, value, range) in ranges where !range.contains(value) {
            return (.invalidArgument, "\(name) \(value) is not \(range.lowerBound)–\(range.upperBound)")
        }
        let levels: [(String, Float)] = [
            ("threshold (dB)", detector.thresholdDecibels), ("minimum level (dBFS)", detector.minimumLevelDbfs),
            ("echo margin (dB)", detector.echoMarginDecibels), ("agent-talking extra (dB)", detector.agentTalkingExtraDecibels),
            ("background margin (dB)", detector.backgroundMarginDecibels),
        ]
        for (name, value) in levels where !value.isFinite { return (.invalidArgument, "\(name) is not a finite number") }
        guard bargeIn.arbitration.isValid else { return (.invalidArgument, "barge-in confirm/max-pause times are out of range (confirm 0–2000 ms, max pause confirm–5000 ms)") }
        return nil
    }
}
