// SPDX-License-Identifier: MIT
// A whole recording through the caller-speech detector, offline: the speech state per 10 ms
// frame, in the format the labelled corpora and their scorer use (`audiobridge vad`, the
// quality tests). The detector runs exactly as in a call, hop by hop; a 10 ms frame's state is
// the state after the last hop that ended within it (causal: never later audio).
public enum SpeechFrames {
    public static let frameSamples = 80

    /// `caller` and `reference` (what the agent played, sample-aligned; nil when none) at 8 kHz.
    /// `observe` sees the detector after each hop (diagnostics: its SNR, periodicity, …).
    public static func detect(caller: [Int16], reference: [Int16]?, settings: CallerSpeechDetector.Settings = .init(),
                              observe: ((CallerSpeechDetector) -> Void)? = nil) -> [Bool] {
        let detector = CallerSpeechDetector(settings: settings)
        let hop = CallerSpeechDetector.hopSamples
        let frames = caller.count / frameSamples
        var states = [Bool](repeating: false, count: frames)
        var state = false
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
                }
                states[frame] = state
            }
        }
        return states
    }

    /// Barge-in triggers: the start of every 0→1 transition, in ms from the start.
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
