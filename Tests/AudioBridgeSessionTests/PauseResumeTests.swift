// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeSession
import Foundation
import Testing

/// Pause, then commit, else resume, sample by sample: what the caller hears, the heard
/// position, the events on both sides and the counters.
struct PauseResumeTests {
    static let fade = 64  // 8 ms at 8 kHz

    /// Agent audio that never repeats (a shifted or repeated sample would show): a voice-like
    /// tone whose pitch glides between 350 and 550 Hz.
    static func agentAudio(samples: Int) -> [Int16] {
        var phase = 0.0
        return (0..<samples).map { n in
            let frequency: Double = 450 + 100 * sin(2 * Double.pi * 0.7 * Double(n) / 8000)
            phase += 2 * Double.pi * frequency / 8000
            return Int16(6000 * sin(phase))
        }
    }

    /// The heard stream's frame index in which an event was emitted (events are emitted by the
    /// readCaller that follows the writeCaller of the same frame step).
    static func frameIndex(_ event: SessionEvent, frameMilliseconds: Int = 20) -> Int { Int(event.timestampMilliseconds) / frameMilliseconds - 1 }

    /// The agent answers (4 s, item `item`) and talks for a second first, as calls do (the
    /// detector learns that the line returns no echo; until then it is cautious about what the
    /// agent just said); then the caller talks for `talking` frames and is silent for `after`.
    static func answer(item: UInt64, talking: Int, after: Int) throws -> (SessionHarness, [Int16]) {
        let h = try SessionHarness()
        let audio = agentAudio(samples: 8000 * 4)
        try h.agentSays(item: item, audio)
        try h.agentEnds(item: item)
        try h.silence(frames: 50)
        try h.callerTalks(frames: talking)
        try h.silence(frames: after)
        return (h, audio)
    }

    /// A short sound (140 ms) pauses the answer; it resumes at exactly the paused sample and
    /// plays to its end. The agent side hears of the pause and the resume, never of a cut.
    @Test func aShortSoundPausesAndTheAnswerResumesBitExactly() throws {
        let (h, audio) = try Self.answer(item: 7, talking: 7, after: 250)

        let pending = h.events(.bargeInPending), resumed = h.events(.bargeInResumed)
        #expect(pending.count == 1 && resumed.count == 1)
        #expect(h.events(.bargeIn).isEmpty)
        guard let pause = pending.first, let resume = resumed.first else { return }
        let paused = Int(pause.heardSamples)
        #expect(pause.item == 7 && resume.item == 7)
        #expect(resume.heardSamples == pause.heardSamples, "the heard position is frozen through the pause")

        // Before the pause: the answer exactly, then the fade-out of the pausing frame.
        let pauseFrame = Self.frameIndex(pause), resumeFrame = Self.frameIndex(resume)
        #expect(paused == pauseFrame * 160 + Self.fade, "the frames before the pause plus the fade")
        #expect(Array(h.heard[0..<(paused - Self.fade)]) == Array(audio[0..<(paused - Self.fade)]))
        let faded = Array(h.heard[(paused - Self.fade)..<paused])
        #expect(zip(faded, audio[(paused - Self.fade)..<paused]).allSatisfy { abs(Int($0)) <= abs(Int($1)) })
        // The pause: silence.
        #expect(h.heard[paused..<(resumeFrame * 160)].allSatisfy { $0 == 0 })
        #expect(Int(resume.count) == (resumeFrame - pauseFrame) * 20, "the pause's length in ms")
        // The resume: the fade-in from exactly the paused sample, then the rest of the answer.
        let resumeStart = resumeFrame * 160
        let fadedIn = Array(h.heard[resumeStart..<(resumeStart + Self.fade)])
        #expect(zip(fadedIn, audio[paused..<(paused + Self.fade)]).allSatisfy { abs(Int($0)) <= abs(Int($1)) })
        let rest = audio.count - paused - Self.fade
        #expect(Array(h.heard[(resumeStart + Self.fade)..<(resumeStart + Self.fade + rest)]) == Array(audio[(paused + Self.fade)...]),
                "no sample lost or repeated")

        let finished = h.events(.playoutFinished)
        #expect(finished.count == 1 && finished.first?.heardSamples == UInt64(audio.count), "the whole answer was handed over")
        var agentKinds: [SessionEvent.Kind] = []
        while let n = h.session.agent.pollNotification() { agentKinds.append(n.kind) }
        #expect(!agentKinds.contains(.bargeIn), "the agent side sees no cut: no cancel, no truncate")
        #expect(agentKinds.contains(.bargeInPending) && agentKinds.contains(.bargeInResumed))
        let stats = h.session.statistics
        #expect((stats.bargeIns, stats.bargeInPauses, stats.bargeInResumes, stats.downlinkDiscardedSamples) == (0, 1, 1, 0))
    }

    /// Talking on commits the barge-in after the confirmation time; the cut reports the
    /// position the pause froze, and nothing more of the answer is heard.
    @Test func speechThatGoesOnCommitsAtThePausedPosition() throws {
        let (h, audio) = try Self.answer(item: 3, talking: 40, after: 20)

        let pending = h.events(.bargeInPending), cuts = h.events(.bargeIn)
        #expect(pending.count == 1 && cuts.count == 1 && h.events(.bargeInResumed).isEmpty)
        guard let pause = pending.first, let cut = cuts.first else { return }
        #expect(cut.item == 3 && cut.code == SessionEvent.BargeInCause.callerSpeech.rawValue)
        #expect(cut.heardSamples == pause.heardSamples, "the cut is where the pause stopped")
        let confirmation = Int(cut.timestampMilliseconds) - Int(pause.timestampMilliseconds)
        #expect(confirmation >= 240 - 20 && confirmation <= 240 + 40, "pause → commit \(confirmation) ms")
        #expect(h.heard.dropFirst(Int(pause.heardSamples)).allSatisfy { $0 == 0 })
        #expect(h.events(.playoutFinished).isEmpty)
        let stats = h.session.statistics
        #expect((stats.bargeIns, stats.bargeInPauses, stats.bargeInResumes) == (1, 1, 0))
        #expect(stats.downlinkDiscardedSamples == UInt64(audio.count) - cut.heardSamples)
    }

    /// The agent side confirms (its model heard the caller too): the pause commits at the next
    /// frame, long before the confirmation time. Confirming with no pause does nothing.
    @Test func theAgentSideCanConfirmAPause() throws {
        let h = try SessionHarness { $0.bargeIn.arbitration.confirmationMilliseconds = 2000; $0.bargeIn.arbitration.maximumPauseMilliseconds = 3000 }
        try h.agentSays(item: 5, Self.agentAudio(samples: 8000 * 3))
        h.session.confirmBargeIn()
        try h.silence(frames: 50)
        #expect(h.events(.bargeIn).isEmpty, "nothing was paused")
        try h.callerTalks(frames: 8)
        guard let pause = h.events(.bargeInPending).first else { Issue.record("no pause"); return }
        #expect(h.events(.bargeIn).isEmpty)
        h.session.confirmBargeIn()
        try h.callerTalks(frames: 1)
        let cut = h.events(.bargeIn)
        #expect(cut.count == 1 && cut.first?.heardSamples == pause.heardSamples)
        #expect(cut.first?.code == SessionEvent.BargeInCause.callerSpeech.rawValue)
    }

    /// An interrupt during a pause cuts at the paused position; nothing resumes afterwards.
    @Test func anInterruptDuringAPauseCutsIt() throws {
        let h = try SessionHarness()
        try h.agentSays(item: 9, Self.agentAudio(samples: 8000 * 3))
        try h.silence(frames: 50)
        try h.callerTalks(frames: 7)
        guard let pause = h.events(.bargeInPending).first else { Issue.record("no pause"); return }
        h.session.interrupt()
        try h.silence(frames: 30)
        let cut = h.events(.bargeIn)
        #expect(cut.count == 1 && cut.first?.heardSamples == pause.heardSamples)
        #expect(cut.first?.code == SessionEvent.BargeInCause.interruptRequest.rawValue)
        #expect(h.events(.bargeInResumed).isEmpty)
        #expect(h.heard.dropFirst(Int(pause.heardSamples)).allSatisfy { $0 == 0 })
    }

    /// A pause costs the agent nothing in 30 ms frames either, and the paused sample is kept
    /// when frames and detector hops do not line up.
    @Test func pauseAndResumeWith30MillisecondFrames() throws {
        // A long confirmation time: this is about framing, and the 180 ms sound must resume.
        let h = try SessionHarness { $0.frameMilliseconds = 30; $0.bargeIn.arbitration.confirmationMilliseconds = 600 }
        let audio = Self.agentAudio(samples: 8000 * 3)
        try h.agentSays(item: 1, audio)
        try h.agentEnds(item: 1)
        try h.silence(frames: 50)  // the detector learns the line has no echo
        try h.callerTalks(frames: 6)
        try h.silence(frames: 150)
        #expect(h.events(.bargeInPending).count == 1 && h.events(.bargeInResumed).count == 1)
        #expect(h.events(.bargeIn).isEmpty)
        #expect(h.events(.playoutFinished).first?.heardSamples == UInt64(audio.count))
        guard let pause = h.events(.bargeInPending).first, let resume = h.events(.bargeInResumed).first else { return }
        let paused = Int(pause.heardSamples)
        #expect(paused == Self.frameIndex(pause, frameMilliseconds: 30) * 240 + Self.fade)
        #expect(Array(h.heard[0..<(paused - Self.fade)]) == Array(audio[0..<(paused - Self.fade)]))
        let resumeStart = Self.frameIndex(resume, frameMilliseconds: 30) * 240
        let rest = audio.count - paused - Self.fade
        #expect(Array(h.heard[(resumeStart + Self.fade)..<(resumeStart + Self.fade + rest)]) == Array(audio[(paused + Self.fade)...]))
    }

    /// The first wave's behaviour, kept as a mode: every onset over the agent cuts at once.
    @Test func immediateModeCutsWithoutAPause() throws {
        let h = try SessionHarness { $0.bargeIn.arbitration.mode = .immediate }
        try h.agentSays(item: 2, Self.agentAudio(samples: 8000 * 3))
        try h.silence(frames: 50)
        try h.callerTalks(frames: 7)
        #expect(h.events(.bargeInPending).isEmpty)
        #expect(h.events(.bargeIn).count == 1)
    }

    @Test func arbitrationSettingsAreValidated() {
        var configuration = SessionConfiguration()
        configuration.bargeIn.arbitration.confirmationMilliseconds = 3000
        #expect(throws: AudioBridgeError.invalidArgument) { try configuration.validate() }
        configuration.bargeIn.arbitration.confirmationMilliseconds = 500
        configuration.bargeIn.arbitration.maximumPauseMilliseconds = 400
        #expect(throws: AudioBridgeError.invalidArgument) { try configuration.validate() }
    }
}
