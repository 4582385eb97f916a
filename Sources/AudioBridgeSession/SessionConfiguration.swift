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
    /// less (back-pressure); nothing is dropped.
    public var playoutCapacityMilliseconds = 20_000
    /// Caller audio waiting for the agent side to read it; when full the oldest is kept and the
    /// newest frame is dropped and counted.
    public var uplinkCapacityMilliseconds = 2_000
    /// Events waiting for the host, per producer side; overflow is counted and reported.
    public var eventCapacity = 256
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
        guard Self.supportedFrameMilliseconds.contains(frameMilliseconds) else { throw .invalidFrameDuration }
        switch agentFormat {
        case .pcm16(let rate):
            guard Self.supportedAgentSampleRates.contains(rate) else { throw .unsupportedSampleRate }
        case .g711Passthrough:
            guard phoneCodec != .slin16 else { throw .invalidArgument }
        }
        guard Resampler.qualityRange.contains(resamplerQuality) else { throw .unsupportedQuality }
        guard (1_000...600_000).contains(playoutCapacityMilliseconds),
              (100...60_000).contains(uplinkCapacityMilliseconds),
              (16...65_536).contains(eventCapacity),
              (1...10).contains(bargeIn.fadeMilliseconds), bargeIn.fadeMilliseconds <= frameMilliseconds,
              bargeIn.detector.minimumSpeechMilliseconds >= 0, bargeIn.detector.minimumSpeechMilliseconds <= 1_280,
              bargeIn.detector.hangoverMilliseconds >= 0, bargeIn.detector.hangoverMilliseconds <= 1_260,
              bargeIn.detector.endOfTurnMilliseconds >= 0, bargeIn.detector.endOfTurnMilliseconds <= 10_000,
              bargeIn.detector.thresholdDecibels.isFinite, bargeIn.detector.minimumLevelDbfs.isFinite,
              bargeIn.detector.echoMarginDecibels.isFinite, bargeIn.detector.agentTalkingExtraDecibels.isFinite,
              bargeIn.detector.backgroundMarginDecibels.isFinite,
              bargeIn.arbitration.isValid
        else { throw .invalidArgument }
    }
}
