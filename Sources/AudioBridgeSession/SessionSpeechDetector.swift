// SPDX-License-Identifier: MIT
// The caller-speech detector (AudioBridgeCore/CallerSpeechDetector) fed from the session's
// frames: they are 10, 20 or 30 ms, the detector takes 20 ms hops, each with the 20 ms the
// caller heard from the agent most recently (its echo reference). Buffers are made at creation;
// everything else is realtime-safe.
import AudioBridgeCore

final class SessionSpeechDetector {
    enum Transition: Equatable {
        case none
        case speechStarted
        case speechStopped
    }

    private let detector: CallerSpeechDetector
    private let hop = CallerSpeechDetector.hopSamples
    private let caller: UnsafeMutableBufferPointer<Int16>
    private var filled = 0
    /// The newest `hop` samples the caller heard, oldest first.
    private let played: UnsafeMutableBufferPointer<Int16>

    var isSpeaking: Bool { detector.isSpeaking }

    init(settings: CallerSpeechDetector.Settings) {
        detector = CallerSpeechDetector(settings: settings)
        caller = .allocate(capacity: hop)
        caller.initialize(repeating: 0)
        played = .allocate(capacity: hop)
        played.initialize(repeating: 0)
    }

    deinit {
        caller.deallocate()
        played.deallocate()
    }

    /// The frame just handed to the caller (silence when nothing played).
    func notePlayed(_ frame: UnsafeBufferPointer<Int16>) {
        let count = min(frame.count, hop)
        let keep = hop - count
        if keep > 0 { played.baseAddress!.update(from: played.baseAddress! + count, count: keep) }
        for i in 0..<count { played[keep + i] = frame[frame.count - count + i] }
    }

    /// One caller frame; returns what changed (at most one change per frame).
    func process(_ frame: UnsafeBufferPointer<Int16>) -> Transition {
        let before = detector.isSpeaking
        var offset = 0
        while offset < frame.count {
            let take = min(hop - filled, frame.count - offset)
            for i in 0..<take { caller[filled + i] = frame[offset + i] }
            filled += take
            offset += take
            if filled == hop {
                detector.process(caller: UnsafeBufferPointer(caller), reference: UnsafeBufferPointer(played))
                filled = 0
            }
        }
        switch (before, detector.isSpeaking) {
        case (false, true): return .speechStarted
        case (true, false): return .speechStopped
        default: return .none
        }
    }

    func reset() {
        detector.reset()
        filled = 0
        played.update(repeating: 0)
    }
}
