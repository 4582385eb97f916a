// SPDX-License-Identifier: MIT
// `audiobridge vad IN.wav [--reference REF.wav] --frames OUT.txt [--triggers OUT.txt]`: the
// caller-speech detector on a recording, in the labelled corpus' formats (one 0/1 line per
// 10 ms frame; one trigger time in ms per line), so anyone can score it on any corpus.
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

    @Option(help: "Where to write the barge-in trigger times, one per line, in ms.")
    var triggers: String?

    @Option(help: "Where to write the detector's evidence per 20 ms hop (SNR dB, periodicity, tonality, agent talking, state), for tuning.")
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
        guard frames != nil || triggers != nil else { throw ValidationError("give --frames, --triggers or both") }
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
        var evidence = "# snr_db periodicity tonality agent_talking speaking\n"
        let states = SpeechFrames.detect(caller: caller, reference: played, settings: settings, observe: diagnostics == nil ? nil : { detector in
            evidence += "\(detector.lastSNR) \(detector.lastPeriodicity) \(detector.lastTonality) \(detector.agentTalking ? 1 : 0) \(detector.isSpeaking ? 1 : 0)\n"
        })
        if let diagnostics { try evidence.write(toFile: diagnostics, atomically: true, encoding: .utf8) }
        if let frames {
            try (states.map { $0 ? "1\n" : "0\n" }.joined()).write(toFile: frames, atomically: true, encoding: .utf8)
        }
        if let triggers {
            try (SpeechFrames.triggers(states).map { "\($0)\n" }.joined()).write(toFile: triggers, atomically: true, encoding: .utf8)
        }
    }

    static func read(_ path: String) throws -> [Int16] {
        let file = try WavFile(contentsOf: path)
        guard file.sampleRate == 8000 else { throw ValidationError("\(path): \(file.sampleRate) Hz; the detector runs at 8000 Hz") }
        return file.samples
    }
}
