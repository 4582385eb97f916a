// SPDX-License-Identifier: MIT
// Pause, then commit, else resume: the decision between "the caller may be talking" and "the
// caller is talking over the agent", one 20 ms detector hop at a time.
//
//   listening ──onset while the agent plays──▶ paused ──confirmed──▶ committed (cut the answer)
//                                                 │
//                                                 └──speech ended, or the pause ran out──▶ resumed
//
// A false onset (a cough, a door, a voice in the room) costs the caller a short silence and the
// agent nothing: its answer resumes at the paused sample. The answer is cut once the pause has
// lasted the confirmation time and the detector has confirmed at least half of it as the
// caller's own voice (voiced, foreground) — counted over the hops that sounded like speech, so
// the hangover after a short word does not count against it. After a commit or a resume,
// nothing more happens until the detector's speech has ended: one decision per stretch of
// speech.
//
// Pure value type: no clocks, no buffers; the session and the `vad` tool drive the same code.

public struct BargeInArbiter: Sendable {
    public enum Mode: UInt32, Sendable, CaseIterable {
        /// Every onset while the agent talks cuts it at once (the first wave's behaviour).
        case immediate = 0
        /// An onset pauses playout; confirmed speech commits the cut; anything else resumes.
        case pauseThenCommit = 1
    }

    public struct Settings: Equatable, Sendable {
        public var mode = Mode.pauseThenCommit
        /// How long the pause lasts at least before the cut is committed; at least half of it
        /// must be confirmed as the caller's own speech, and at least half of what sounded like
        /// speech in the pause. 0…2,000 ms (0: every onset commits at once).
        public var confirmationMilliseconds = 240
        /// The longest pause: if the speech has not been confirmed by then, playout resumes.
        /// At least the confirmation time, at most 5,000 ms.
        public var maximumPauseMilliseconds = 1_000

        public init() {}

        public var isValid: Bool {
            (0...2_000).contains(confirmationMilliseconds)
                && (confirmationMilliseconds...5_000).contains(maximumPauseMilliseconds)
        }
    }

    public enum State: Equatable, Sendable {
        case listening
        case paused
        /// Decided (committed or resumed) for this stretch of speech: waits for it to end.
        case decided
    }

    public enum Action: Equatable, Sendable {
        case none
        case pause
        case commit
        case resume
    }

    public static let hopMilliseconds = 20

    public let settings: Settings
    public private(set) var state = State.listening
    /// Hops since the pause began (the pausing hop counts as the first).
    public private(set) var pausedHops = 0
    private var confirmedHops = 0
    private var speechLikeHops = 0
    private let confirmationHops: Int
    private let maximumPauseHops: Int

    public init(settings: Settings = Settings()) {
        self.settings = settings
        confirmationHops = (max(0, settings.confirmationMilliseconds) + Self.hopMilliseconds - 1) / Self.hopMilliseconds
        maximumPauseHops = max(1, (max(settings.confirmationMilliseconds, settings.maximumPauseMilliseconds) + Self.hopMilliseconds - 1) / Self.hopMilliseconds)
    }

    /// One detector hop. `speaking`: the detector's speech state; `speechLike`: whether this hop
    /// sounded like speech; `confirming`: whether it is evidence of the caller's own speech
    /// (implies speech-like); `agentPlaying`: whether agent audio is playing.
    public mutating func hop(speaking: Bool, speechLike: Bool, confirming: Bool, agentPlaying: Bool) -> Action {
        guard speaking else {
            let wasPaused = state == .paused
            state = .listening
            return wasPaused ? .resume : .none
        }
        switch state {
        case .decided:
            return .none
        case .listening:
            guard agentPlaying else { return .none }
            if settings.mode == .immediate {
                state = .decided
                return .commit
            }
            state = .paused
            pausedHops = 0
            confirmedHops = 0
            speechLikeHops = 0
            return advancePause(speechLike: speechLike, confirming: confirming, first: true)
        case .paused:
            return advancePause(speechLike: speechLike, confirming: confirming, first: false)
        }
    }

    private mutating func advancePause(speechLike: Bool, confirming: Bool, first: Bool) -> Action {
        pausedHops += 1
        if confirming { confirmedHops += 1 }
        if speechLike || confirming { speechLikeHops += 1 }
        let confirmed = confirmationHops == 0
            || (confirmedHops * 2 >= confirmationHops && confirmedHops * 2 >= speechLikeHops)
        if pausedHops >= confirmationHops && confirmed {
            state = .decided
            return .commit
        }
        if pausedHops >= maximumPauseHops {
            state = .decided
            return first ? .none : .resume
        }
        return first ? .pause : .none
    }

    /// The agent side confirmed the caller's speech (e.g. the model heard it too): commits a
    /// pause at once. Returns whether there was one.
    public mutating func confirm() -> Bool {
        guard state == .paused else { return false }
        state = .decided
        return true
    }

    /// Playout was cut or ended some other way (an interrupt request): a pause is over, with
    /// nothing to resume.
    public mutating func abandon() {
        if state == .paused { state = .decided }
    }

    /// Something new is playing (a new item): speech already decided on is looked at afresh.
    /// A pause in progress is left alone.
    public mutating func rearm() {
        if state == .decided { state = .listening }
    }

    public mutating func reset() {
        state = .listening
        pausedHops = 0
        confirmedHops = 0
        speechLikeHops = 0
    }
}
