// SPDX-License-Identifier: MIT
// The caller-speech detector (AudioBridgeCore/CallerSpeechDetector) fed from the session's
// frames: they are 10, 20 or 30 ms, the detector takes 20 ms hops, each with the 20 ms the
// caller heard from the agent most recently (its echo reference). Two views of it: whether it
// hears speech, which barge-in uses; and the caller's turn, which starts with speech and
// ends only after `endOfTurnMilliseconds` without it (speechStarted / speechStopped events), so a
// pause mid-sentence does not hand the turn to the agent. Each hop also goes to the barge-in
// arbiter (pause, then commit, else resume), whose decisions the media end carries out.
// Buffers are made at creation; everything else is realtime-safe.
import AudioBridgeCore

final class SessionSpeechDetector {
    enum Transition: Equatable {
        case none
        case speechStarted
        case speechStopped
    }

    private let detector: CallerSpeechDetector
    /// Touched every hop by this detector's own methods only, which call nothing out while
    /// they hold it: no dynamic exclusivity check (see AgentEnd's rings).
    @exclusivity(unchecked) private var arbiter: BargeInArbiter
    private let hop = CallerSpeechDetector.hopSamples
    /// A hop gathered from frames that split it (10 and 30 ms frames).
    private let caller: UnsafeMutableBufferPointer<Int16>
    private var filled = 0
    /// The newest `hop` samples the caller heard, oldest first.
    private let played: UnsafeMutableBufferPointer<Int16>
    private var inTurn = false
    private var quietHops = 0
    private let endOfTurnHops: Int

    init(settings: CallerSpeechDetector.Settings, arbitration: BargeInArbiter.Settings) {
        detector = CallerSpeechDetector(settings: settings)
        arbiter = BargeInArbiter(settings: arbitration)
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

    var hotMemory: HotMemory {
        var memory = detector.hotMemory
        memory.add(self)
        memory.add(UnsafeRawPointer(played.baseAddress), bytes: hop * MemoryLayout<Int16>.stride)
        return memory
    }

    /// The frame just handed to the caller (silence when nothing played).
    func notePlayed(_ frame: UnsafeBufferPointer<Int16>) {
        let count = min(frame.count, hop)
        let keep = hop - count
        guard count > 0, let source = frame.baseAddress else { return }
        if keep > 0 { played.baseAddress!.update(from: played.baseAddress! + count, count: keep) }
        (played.baseAddress! + keep).update(from: source + (frame.count - count), count: count)
    }

    /// One caller frame; returns how the caller's turn changed (at most one change per frame)
    /// and whether the arbiter committed a barge-in in one of the frame's hops (`agentPlaying`:
    /// whether an agent item is playing). Pauses and resumes are read from `arbiter.state`.
    func process(_ frame: UnsafeBufferPointer<Int16>, agentPlaying: Bool) -> (Transition, committed: Bool) {
        let before = inTurn
        var committed = false
        var offset = 0
        while offset < frame.count {
            let hopSamples: UnsafeBufferPointer<Int16>
            if filled == 0, frame.count - offset >= hop {
                // A whole hop within the frame (every hop of 20 ms frames): no copy.
                hopSamples = UnsafeBufferPointer(rebasing: frame[offset..<(offset + hop)])
                offset += hop
            } else {
                let take = min(hop - filled, frame.count - offset)
                (caller.baseAddress! + filled).update(from: frame.baseAddress! + offset, count: take)
                filled += take
                offset += take
                guard filled == hop else { continue }
                filled = 0
                hopSamples = UnsafeBufferPointer(caller)
            }
            let speaking = detector.process(caller: hopSamples, reference: UnsafeBufferPointer(played))
            let evidence = detector.lastHopEvidence
            if arbiter.hop(speaking: speaking, speechLike: evidence.speechLike, confirming: evidence.confirming, agentPlaying: agentPlaying) == .commit {
                committed = true
            }
            if speaking {
                inTurn = true
                quietHops = 0
            } else if inTurn {
                quietHops += 1
                if quietHops >= endOfTurnHops { inTurn = false }
            }
        }
        switch (before, inTurn) {
        case (false, true): return (.speechStarted, committed)
        case (true, false): return (.speechStopped, committed)
        default: return (.none, committed)
        }
    }

    /// The agent side confirmed the caller's speech: true if a pause was waiting for it.
    func confirmPause() -> Bool { arbiter.confirm() }

    /// Playout was cut by other means: a pause is over, with nothing to resume.
    func abandonPause() { arbiter.abandon() }
    /// A new item starts: speech already decided on may pause it afresh.
    func rearm() { arbiter.rearm() }
    var isPaused: Bool { arbiter.state == .paused }

    func reset() {
        detector.reset()
        arbiter.reset()
        filled = 0
        inTurn = false
        quietHops = 0
        played.update(repeating: 0)
    }
}
