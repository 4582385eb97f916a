// SPDX-License-Identifier: MIT
// The caller-speech detector (AudioBridgeCore/CallerSpeechDetector) fed from the session's
// frames: they are 10, 20 or 30 ms, the detector takes 20 ms hops, each with the 20 ms the
// caller heard from the agent most recently (its echo reference). Two views of it: `isSpeaking`,
// the detector's state, which barge-in uses; and the caller's turn, which starts with speech and
// ends only after `endOfTurnMilliseconds` without it (speechStarted / speechStopped events), so a
// pause mid-sentence does not hand the turn to the agent. Buffers are made at creation;
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
    private var inTurn = false
    private var quietHops = 0
    private let endOfTurnHops: Int

    var isSpeaking: Bool { detector.isSpeaking }

    init(settings: CallerSpeechDetector.Settings) {
        detector = CallerSpeechDetector(settings: settings)
        endOfTurnHops = max(1, (max(settings.endOfTurnMilliseconds, settings.hangoverMilliseconds) + 19) / 20)
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

    /// One caller frame; returns how the caller's turn changed (at most one change per frame).
    func process(_ frame: UnsafeBufferPointer<Int16>) -> Transition {
        let before = inTurn
        var offset = 0
        while offset < frame.count {
            let take = min(hop - filled, frame.count - offset)
            for i in 0..<take { caller[filled + i] = frame[offset + i] }
            filled += take
            offset += take
            if filled == hop {
                let speaking = detector.process(caller: UnsafeBufferPointer(caller), reference: UnsafeBufferPointer(played))
                filled = 0
                if speaking {
                    inTurn = true
                    quietHops = 0
                } else if inTurn {
                    quietHops += 1
                    if quietHops >= endOfTurnHops { inTurn = false }
                }
            }
        }
        switch (before, inTurn) {
        case (false, true): return .speechStarted
        case (true, false): return .speechStopped
        default: return .none
        }
    }

    func reset() {
        detector.reset()
        filled = 0
        inTurn = false
        quietHops = 0
        played.update(repeating: 0)
    }
}
