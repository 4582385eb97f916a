// SPDX-License-Identifier: MIT
import AudioBridgeCore
import Testing

struct BargeInArbiterTests {
    typealias Action = BargeInArbiter.Action

    /// Runs hops of (speaking, confirming) with the agent playing; returns the actions. A hop
    /// is speech-like while the caller speaks, unless `speechLike` says otherwise.
    static func run(_ arbiter: inout BargeInArbiter, _ hops: [(Bool, Bool)], agentPlaying: Bool = true, speechLike: ((Int) -> Bool)? = nil) -> [Action] {
        hops.enumerated().map { index, hop in
            arbiter.hop(speaking: hop.0, speechLike: speechLike?(index) ?? hop.0, confirming: hop.1, agentPlaying: agentPlaying)
        }
    }

    static func settings(confirm: Int = 240, maxPause: Int = 1000, mode: BargeInArbiter.Mode = .pauseThenCommit) -> BargeInArbiter.Settings {
        var s = BargeInArbiter.Settings()
        s.confirmationMilliseconds = confirm
        s.maximumPauseMilliseconds = maxPause
        s.mode = mode
        return s
    }

    @Test func confirmedSpeechCommitsAfterTheConfirmationTime() {
        var arbiter = BargeInArbiter(settings: Self.settings(confirm: 240))
        let actions = Self.run(&arbiter, Array(repeating: (true, true), count: 15))
        #expect(actions[0] == .pause)
        #expect(actions[11] == .commit, "12 hops of 20 ms = 240 ms, the pausing hop included")
        #expect(actions.enumerated().allSatisfy { $0.offset == 0 || $0.offset == 11 || $0.element == .none })
        #expect(arbiter.state == .decided)
    }

    @Test func speechThatEndsBeforeConfirmationResumes() {
        var arbiter = BargeInArbiter(settings: Self.settings(confirm: 240))
        let actions = Self.run(&arbiter, Array(repeating: (true, true), count: 5) + [(false, false), (false, false)])
        #expect(actions == [.pause, .none, .none, .none, .none, .resume, .none])
        #expect(arbiter.state == .listening)
    }

    @Test func unconfirmedSpeechResumesAtTheLongestPauseAndWaitsForItToEnd() {
        var arbiter = BargeInArbiter(settings: Self.settings(confirm: 240, maxPause: 400))
        // Speech the detector does not confirm as the caller's (a voice in the room).
        let actions = Self.run(&arbiter, Array(repeating: (true, false), count: 40))
        #expect(actions[0] == .pause)
        #expect(actions[19] == .resume, "20 hops = 400 ms")
        #expect(actions.filter { $0 != .none }.count == 2, "no second pause while the same speech goes on")
        // It ends; the next onset pauses again.
        #expect(Self.run(&arbiter, [(false, false), (true, true)]) == [.none, .pause])
    }

    @Test func halfOfWhatSoundedLikeSpeechMustBeConfirmed() {
        var arbiter = BargeInArbiter(settings: Self.settings(confirm: 200))
        let hops = (0..<10).map { (true, $0 % 2 == 0) }
        #expect(Self.run(&arbiter, hops).last == .commit, "5 of 10 speech-like hops confirmed, 100 ms")
        var fewer = BargeInArbiter(settings: Self.settings(confirm: 200, maxPause: 2000))
        let sparse = (0..<10).map { (true, $0 % 3 == 0) }
        #expect(!Self.run(&fewer, sparse).contains(.commit), "4 of 10")
        // Confirmation that comes later still commits, before the longest pause.
        #expect(Self.run(&fewer, Array(repeating: (true, true), count: 10)).contains(.commit))
    }

    /// A short word: its hangover (speech state on, nothing speech-like) does not count against
    /// it — but it needs half the confirmation time of confirmed speech.
    @Test func aShortWordCommitsAndAShorterSoundResumes() {
        let word = (0..<14).map { (true, $0 < 6) }  // 6 confirmed hops (120 ms), then hangover
        var arbiter = BargeInArbiter(settings: Self.settings(confirm: 240))
        let actions = Self.run(&arbiter, word, speechLike: { $0 < 6 })
        #expect(actions.firstIndex(of: .commit) == 11, "at the confirmation time")
        var shorter = BargeInArbiter(settings: Self.settings(confirm: 240))
        let blip = (0..<14).map { (true, $0 < 5) } + [(false, false)]
        #expect(Self.run(&shorter, blip, speechLike: { $0 < 5 }) == [.pause] + Array(repeating: .none, count: 13) + [.resume])
        // Sound that kept sounding like speech without being confirmed is not a word.
        var noisy = BargeInArbiter(settings: Self.settings(confirm: 240))
        let mostlyUnconfirmed = (0..<40).map { (true, $0 % 3 == 0) }
        #expect(!Self.run(&noisy, mostlyUnconfirmed).contains(.commit), "a third of the speech-like hops confirmed")
    }

    @Test func nothingHappensWhileTheAgentIsSilent() {
        var arbiter = BargeInArbiter()
        #expect(Self.run(&arbiter, Array(repeating: (true, true), count: 50), agentPlaying: false).allSatisfy { $0 == .none })
        // The agent starts while the caller is still talking: that pauses it.
        #expect(arbiter.hop(speaking: true, speechLike: true, confirming: true, agentPlaying: true) == .pause)
    }

    @Test func immediateModeCommitsAtTheOnset() {
        var arbiter = BargeInArbiter(settings: Self.settings(mode: .immediate))
        let actions = Self.run(&arbiter, Array(repeating: (true, false), count: 10) + [(false, false)] + [(true, false)])
        #expect(actions == [.commit] + Array(repeating: .none, count: 10) + [.commit])
    }

    @Test func zeroConfirmationCommitsAtTheOnset() {
        var arbiter = BargeInArbiter(settings: Self.settings(confirm: 0, maxPause: 0))
        #expect(Self.run(&arbiter, [(true, false), (true, false)]) == [.commit, .none])
    }

    @Test func theAgentSideCanConfirmAndAnInterruptEndsThePause() {
        var arbiter = BargeInArbiter()
        let early = arbiter.confirm()
        #expect(!early, "nothing to confirm while listening")
        #expect(arbiter.hop(speaking: true, speechLike: true, confirming: false, agentPlaying: true) == .pause)
        let confirmed = arbiter.confirm()
        #expect(confirmed)
        #expect(arbiter.state == .decided)
        #expect(arbiter.hop(speaking: true, speechLike: true, confirming: true, agentPlaying: true) == .none)

        var interrupted = BargeInArbiter()
        _ = interrupted.hop(speaking: true, speechLike: true, confirming: false, agentPlaying: true)
        interrupted.abandon()
        #expect(interrupted.state == .decided)
        #expect(interrupted.hop(speaking: false, speechLike: false, confirming: false, agentPlaying: true) == .none, "no resume after an interrupt")
    }

    @Test func rearmLooksAgainAtDecidedSpeechButLeavesAPauseAlone() {
        var arbiter = BargeInArbiter(settings: Self.settings(confirm: 100))
        _ = Self.run(&arbiter, Array(repeating: (true, true), count: 5))
        #expect(arbiter.state == .decided)
        arbiter.rearm()
        #expect(arbiter.hop(speaking: true, speechLike: true, confirming: true, agentPlaying: true) == .pause)
        arbiter.rearm()
        #expect(arbiter.state == .paused)
    }

    @Test func settingsAreChecked() {
        #expect(BargeInArbiter.Settings().isValid)
        #expect(!Self.settings(confirm: -1).isValid)
        #expect(!Self.settings(confirm: 2001, maxPause: 3000).isValid)
        #expect(!Self.settings(confirm: 500, maxPause: 400).isValid)
        #expect(!Self.settings(confirm: 500, maxPause: 5001).isValid)
    }

    /// Random hop sequences against the rules: a pause is followed by exactly one commit or
    /// resume before anything else; commits and pauses happen only while the caller speaks and
    /// the agent plays; a commit after a pause comes no sooner than the confirmation time and
    /// with half of it, and half of the speech-like hops, confirmed; a resume after speech ends
    /// or at the longest pause; immediate mode never pauses.
    @Test func randomSequencesKeepTheRules() {
        var rng = ArbiterTestRandom(seed: 0x5eed_ba26)
        for round in 0..<2_000 {
            var settings = BargeInArbiter.Settings()
            settings.mode = round % 5 == 0 ? .immediate : .pauseThenCommit
            settings.confirmationMilliseconds = Int(rng.next() % 30) * 20
            settings.maximumPauseMilliseconds = settings.confirmationMilliseconds + Int(rng.next() % 40) * 20
            var arbiter = BargeInArbiter(settings: settings)
            let confirmHops = settings.confirmationMilliseconds / 20
            let maxHops = max(1, settings.maximumPauseMilliseconds / 20)
            var pausedAt: Int?
            var confirmed = 0, speechLikeCount = 0
            var speaking = false
            for hop in 0..<400 {
                if rng.next() % 8 == 0 { speaking.toggle() }
                let speechLike = speaking && rng.next() % 4 != 0
                let confirming = speechLike && rng.next() % 3 != 0
                let playing = rng.next() % 50 != 0
                let action = arbiter.hop(speaking: speaking, speechLike: speechLike, confirming: confirming, agentPlaying: playing)
                if action == .pause { confirmed = 0; speechLikeCount = 0 }
                if pausedAt != nil || action == .pause {
                    if confirming { confirmed += 1 }
                    if speechLike { speechLikeCount += 1 }
                }
                switch action {
                case .pause:
                    #expect(pausedAt == nil && speaking && playing && settings.mode == .pauseThenCommit)
                    pausedAt = hop
                case .commit:
                    #expect(speaking)
                    if let start = pausedAt {
                        #expect(hop - start + 1 >= confirmHops && hop - start + 1 <= maxHops)
                        #expect(confirmed * 2 >= confirmHops && confirmed * 2 >= speechLikeCount)
                    } else {
                        #expect(playing)
                    }
                    pausedAt = nil
                case .resume:
                    guard let start = pausedAt else { Issue.record("resume without a pause"); return }
                    #expect(!speaking || hop - start + 1 == maxHops)
                    pausedAt = nil
                case .none:
                    if let start = pausedAt { #expect(speaking && hop - start + 1 < maxHops) }
                }
                #expect((pausedAt != nil) == (arbiter.state == .paused))
            }
        }
    }
}

/// A seeded linear congruential generator (Knuth's MMIX constants): a failure replays.
struct ArbiterTestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }
}
