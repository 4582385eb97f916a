// SPDX-License-Identifier: MIT
// A whole recording through the caller-speech detector and the barge-in arbiter, offline: the
// speech state per 10 ms frame, in the format the labelled corpora and their scorer use, and
// the arbiter's decisions as times (`audiobridge vad`, the quality tests). Both run exactly as
// in a call, hop by hop; a 10 ms frame's state is the state after the last hop that ended
// within it (causal: never later audio). Offline there is no playout to pause, so the arbiter
// is told the agent is always talking: every onset is a possible barge-in.
public enum SpeechFrames {
    public static let frameSamples = 80

    public struct Decisions: Sendable {
        /// The detector's speech state per 10 ms frame.
        public var states: [Bool] = []
        /// When each pause began (ms from the start; the end of the hop that paused).
        public var pauses: [Int] = []
        /// Committed barge-ins (ms): what would cut the agent.
        public var commits: [Int] = []
        /// Pauses that resumed without a barge-in: when each began and ended (ms).
        public var resumedPauses: [(start: Int, end: Int)] = []
    }

    /// `caller` and `reference` (what the agent played, sample-aligned; nil when none) at 8 kHz.
    /// `observe` sees the detector after each hop (diagnostics: its SNR, periodicity, …).
    public static func decide(caller: [Int16], reference: [Int16]?, settings: CallerSpeechDetector.Settings = .init(),
                              arbitration: BargeInArbiter.Settings = .init(),
                              observe: ((CallerSpeechDetector) -> Void)? = nil) -> Decisions {
        let detector = CallerSpeechDetector(settings: settings)
        var arbiter = BargeInArbiter(settings: arbitration)
        let hop = CallerSpeechDetector.hopSamples
        let frames = caller.count / frameSamples
        var decisions = Decisions()
        decisions.states = [Bool](repeating: false, count: frames)
        var state = false
        var pausedAt = 0
        caller.withUnsafeBufferPointer { callerSamples in
            for frame in 0..<frames {
                let end = (frame + 1) * frameSamples
                if end % hop == 0 {
                    let range = (end - hop)..<end
                    if let reference, reference.count >= end {
                        state = reference.withUnsafeBufferPointer { detector.process(caller: UnsafeBufferPointer(rebasing: callerSamples[range]), reference: UnsafeBufferPointer(rebasing: $0[range])) }
                    } else {
                        state = detector.process(caller: UnsafeBufferPointer(rebasing: callerSamples[range]), reference: nil)
                    }
                    observe?(detector)
                    let milliseconds = end / 8
                    switch arbiter.hop(speaking: state, speechLike: detector.lastHopSpeechLike, confirming: detector.lastHopConfirming, agentPlaying: true) {
                    case .pause:
                        pausedAt = milliseconds
                        decisions.pauses.append(milliseconds)
                    case .commit:
                        decisions.commits.append(milliseconds)
                    case .resume:
                        decisions.resumedPauses.append((pausedAt, milliseconds))
                    case .none:
                        break
                    }
                }
                decisions.states[frame] = state
            }
        }
        return decisions
    }

    /// Speech onsets: the start of every 0→1 transition, in ms from the start.
    public static func triggers(_ states: [Bool]) -> [Int] {
        var previous = false
        var times: [Int] = []
        for (index, state) in states.enumerated() {
            if state, !previous { times.append((index + 1) * frameSamples / 8) }
            previous = state
        }
        return times
    }
}
