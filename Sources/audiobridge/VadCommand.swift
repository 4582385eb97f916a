// SPDX-License-Identifier: MIT
// `audiobridge vad IN.wav [--reference REF.wav] --frames OUT.txt [--triggers OUT.txt]
// [--pauses OUT.txt]`: the caller-speech detector and the barge-in arbiter on a recording, in
// the labelled corpus' formats (one 0/1 line per 10 ms frame; one time in ms per line), so
// anyone can score it on any corpus: the frames are the speech state (an onset is where a call
// pauses the agent), the triggers the committed barge-ins (what cuts the agent), the pauses the
// ones that resumed (the caller heard a short silence, the agent lost nothing).
import ArgumentParser
import AudioBridgeCore
import AudioBridgeTransports
import Foundation

struct Vad: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the barge-in speech detector on an 8 kHz WAV and write its decisions.")

    @Argument(help: "The caller channel: a mono 8 kHz WAV (PCM16, μ-law or A-law).")
    var input: String

    @Option(help: "What the agent played, sample-aligned with the caller channel (the echo reference).")
    var reference: String?

    @Option(help: "Where to write the speech state, one 0/1 line per 10 ms frame.")
    var frames: String?

    @Option(help: "Where to write the committed barge-ins, one time per line, in ms.")
    var triggers: String?

    @Option(help: "Where to write the pauses that resumed without a barge-in, one start time per line, in ms.")
    var pauses: String?

    @OptionGroup var arbitrationOptions: BargeInArbitrationOptions

    @Option(help: "Where to write the detector's evidence per 20 ms hop (SNR dB, periodicity, tonality, level dBFS, the caller's learnt level, agent talking, echo delay in hops, confirming, state), for tuning.")
    var diagnostics: String?

    @Option(help: "Minimum speech time, ms.")
    var minSpeechMs = CallerSpeechDetector.Settings().minimumSpeechMilliseconds

    @Option(help: "Hangover, ms.")
    var hangoverMs = CallerSpeechDetector.Settings().hangoverMilliseconds

    @Option(help: "Speech threshold: mean band SNR over noise and expected echo, dB.")
    var thresholdDb = CallerSpeechDetector.Settings().thresholdDecibels

    @Option(help: "In noisy calls, the threshold's margin above the background's SNR, dB.")
    var backgroundMarginDb = CallerSpeechDetector.Settings().backgroundMarginDecibels

    @Option(help: "Added to the threshold while the agent talks, dB.")
    var agentTalkingExtraDb = CallerSpeechDetector.Settings().agentTalkingExtraDecibels

    @Option(help: "Quieter than this is never speech, dBFS.")
    var minLevelDbfs = CallerSpeechDetector.Settings().minimumLevelDbfs

    @Option(help: "Margin on the expected echo, dB.")
    var echoMarginDb = CallerSpeechDetector.Settings().echoMarginDecibels

    @Option(help: "Periodicity a voiced hop reaches, 0–1.")
    var voicing = CallerSpeechDetector.Settings().voicingThreshold

    @Option(help: "Share of energy in two peaks that makes a hop a tone, 0–1.")
    var tonality = CallerSpeechDetector.Settings().tonalityThreshold

    func run() throws {
        guard frames != nil || triggers != nil || pauses != nil else { throw ValidationError("give --frames, --triggers or --pauses") }
        let arbitration = try arbitrationOptions.settings()
        let caller = try Self.read(input)
        let played = try reference.map(Self.read)
        var settings = CallerSpeechDetector.Settings()
        settings.minimumSpeechMilliseconds = minSpeechMs
        settings.hangoverMilliseconds = hangoverMs
        settings.thresholdDecibels = thresholdDb
        settings.agentTalkingExtraDecibels = agentTalkingExtraDb
        settings.backgroundMarginDecibels = backgroundMarginDb
        settings.minimumLevelDbfs = minLevelDbfs
        settings.echoMarginDecibels = echoMarginDb
        settings.voicingThreshold = voicing
        settings.tonalityThreshold = tonality
        var evidence = "# snr_db periodicity tonality level_dbfs caller_level_dbfs agent_talking echo_delay_hops confirming speaking speech_like voiced\n"
        let decisions = SpeechFrames.decide(caller: caller, reference: played, settings: settings, arbitration: arbitration, observe: diagnostics == nil ? nil : { detector in
            evidence += "\(detector.lastSNR) \(detector.lastPeriodicity) \(detector.lastTonality) \(detector.lastLevelDbfs) \(detector.callerLevelDbfs ?? -100) "
                + "\(detector.agentTalking ? 1 : 0) \(detector.echoDelayHops ?? -1) \(detector.lastHopConfirming ? 1 : 0) \(detector.isSpeaking ? 1 : 0) "
                + "\(detector.lastHopSpeechLike ? 1 : 0) \(detector.lastHopVoiced ? 1 : 0)\n"
        })
        if let diagnostics { try evidence.write(toFile: diagnostics, atomically: true, encoding: .utf8) }
        if let frames {
            try (decisions.states.map { $0 ? "1\n" : "0\n" }.joined()).write(toFile: frames, atomically: true, encoding: .utf8)
        }
        if let triggers {
            try (decisions.commits.map { "\($0)\n" }.joined()).write(toFile: triggers, atomically: true, encoding: .utf8)
        }
        if let pauses {
            try (decisions.resumedPauses.map { "\($0.start)\n" }.joined()).write(toFile: pauses, atomically: true, encoding: .utf8)
        }
    }

    static func read(_ path: String) throws -> [Int16] {
        let file = try WavFile(contentsOf: path)
        guard file.sampleRate == 8000 else { throw ValidationError("\(path): \(file.sampleRate) Hz; the detector runs at 8000 Hz") }
        return file.samples
    }
}
