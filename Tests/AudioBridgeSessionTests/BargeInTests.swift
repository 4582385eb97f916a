// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeSession
import Foundation
import Testing

struct BargeInTests {
    /// Agent talks; the caller talks over it (immediate mode: no pause first). The cut comes in
    /// the frame after the detector's decision, playout is empty from then on, and the heard
    /// position is exactly the samples the caller got.
    @Test func callerSpeechCutsPlayoutWithinOneFrame() throws {
        let h = try SessionHarness { $0.bargeIn.arbitration.mode = .immediate }
        let audio = h.agentTone(milliseconds: 5000, amplitude: 6000)
        try h.agentSays(item: 42, audio)
        try h.agentEnds(item: 42)
        try h.silence(frames: 50)  // the agent talks a second first: the detector learns the line
        try h.callerTalks(frames: 10)
        try h.silence(frames: 20)

        let speech = h.events(.speechStarted)
        let bargeIns = h.events(.bargeIn)
        #expect(speech.count == 1)
        #expect(bargeIns.count == 1)
        guard let bargeIn = bargeIns.first, let started = speech.first else { return }
        #expect(bargeIn.item == 42)
        #expect(bargeIn.code == SessionEvent.BargeInCause.callerSpeech.rawValue)
        #expect(bargeIn.timestampMilliseconds == started.timestampMilliseconds, "cut in the same frame step as the decision")
        #expect(bargeIn.sequence > started.sequence)

        // Heard = the samples handed over: every full frame before the cut plus the fade.
        let heardNonSilentEnd = h.heard.lastIndex { $0 != 0 }.map { $0 + 1 } ?? 0
        #expect(Int(bargeIn.heardSamples) >= heardNonSilentEnd)
        #expect(Int(bargeIn.heardSamples) == Int(started.timestampMilliseconds) * 8 - 160 + 64,
                "frames before the cut frame, plus the 8 ms fade")
        #expect(Array(h.heard.prefix(Int(bargeIn.heardSamples) - 64)) == Array(audio.prefix(Int(bargeIn.heardSamples) - 64)))
        #expect(h.heard.dropFirst(Int(bargeIn.heardSamples)).allSatisfy { $0 == 0 }, "nothing plays after the cut")
        #expect(h.events(.playoutFinished).isEmpty, "an interrupted item never finishes")
        let stats = h.session.statistics
        #expect(stats.bargeIns == 1)
        #expect(stats.downlinkDiscardedSamples == UInt64(audio.count) - bargeIn.heardSamples)
    }

    /// The fade: no sample-to-sample step at the cut beyond what the signal itself has plus
    /// one fade step. Cutting without a fade would jump by up to the full amplitude.
    @Test func cutFadesOutWithoutAClick() throws {
        let h = try SessionHarness()
        let amplitude = 20000.0
        let audio = h.agentTone(milliseconds: 3000, amplitude: amplitude, frequency: 100)
        try h.agentSays(item: 1, audio)
        try h.silence(frames: 7)
        h.session.interrupt()
        try h.silence(frames: 3)
        let signalStep = 2 * amplitude * sin(.pi * 100 / 8000)
        let maxJump = zip(h.heard, h.heard.dropFirst()).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(Double(maxJump) <= signalStep + amplitude / 64 + 2, "max step \(maxJump)")
        let cut = h.events(.bargeIn)
        #expect(cut.count == 1 && cut.first?.code == SessionEvent.BargeInCause.interruptRequest.rawValue)
        #expect(cut.first?.heardSamples == 7 * 160 + 64)
    }

    @Test func interruptedItemsLateAudioIsDiscardedAndANewItemPlays() throws {
        let h = try SessionHarness()
        try h.agentSays(item: 1, h.agentTone(milliseconds: 400))
        try h.silence(frames: 3)
        h.session.interrupt()
        try h.silence(frames: 1)
        // The agent has not heard about the cut yet and keeps streaming item 1.
        let late = h.agentTone(milliseconds: 400)
        #expect(try h.agentSays(item: 1, late) == late.count, "taken…")
        try h.silence(frames: 5)
        #expect(h.heard.suffix(5 * 160).allSatisfy { $0 == 0 }, "…but never played")
        // Its next answer plays in full.
        let answer = h.agentTone(milliseconds: 100, amplitude: 5000, frequency: 700)
        try h.agentSays(item: 2, answer)
        try h.agentEnds(item: 2)
        try h.silence(frames: 8)
        #expect(h.events(.playoutFinished).map(\.item) == [2])
        #expect(h.events(.playoutFinished).first?.heardSamples == 800)
        #expect(h.heard.suffix(8 * 160).prefix(800) == answer[...])
    }

    /// interruptHandled tells the agent side when a cut is done: audio written before it is
    /// flushed, audio written after it plays — even when nothing was playing at the cut.
    @Test func interruptHandledSaysWhenAudioIsSafeToWrite() throws {
        let h = try SessionHarness()
        try h.agentSays(item: 1, h.agentTone(milliseconds: 100))
        let request = h.session.interrupt()
        #expect(!h.session.interruptHandled(request))
        try h.silence(frames: 1)
        #expect(h.session.interruptHandled(request))
        #expect(!h.session.interruptHandled(request + 1))
        let answer = h.agentTone(milliseconds: 100, amplitude: 5000, frequency: 700)
        try h.agentSays(item: 2, answer)
        try h.agentEnds(item: 2)
        try h.silence(frames: 8)
        #expect(h.events(.playoutFinished).map(\.item) == [2])
        #expect(h.heard.contains { abs(Int($0)) > 2000 })
    }

    @Test func queuedAudioIsFlushedEvenIfItHadNotStarted() throws {
        let h = try SessionHarness()
        try h.agentSays(item: 5, h.agentTone(milliseconds: 300))
        h.session.interrupt()
        try h.silence(frames: 20)
        #expect(h.heard.allSatisfy { $0 == 0 })
        #expect(h.events(.bargeIn).isEmpty, "nothing was playing, so nothing was interrupted")
        #expect(h.session.statistics.downlinkDiscardedSamples == 2400)
    }

    @Test func speechWithoutAgentAudioIsNotABargeIn() throws {
        let h = try SessionHarness()
        try h.silence(frames: 5)
        try h.callerTalks(frames: 20)
        try h.silence(frames: 40)  // the turn ends 600 ms after the last speech
        #expect(h.events.map(\.kind) == [.speechStarted, .speechStopped])
        #expect(h.events(.bargeIn).isEmpty)
    }

    @Test func echoOfTheAgentDoesNotBargeIn() throws {
        let h = try SessionHarness()
        let audio = h.agentTone(milliseconds: 2000, amplitude: 16000, frequency: 300)
        try h.agentSays(item: 9, audio)
        // The line returns the agent's voice 20 dB down, one frame late.
        for frame in 0..<60 {
            let start = max(0, (frame - 1) * 160)
            let echo = h.heard.count >= start + 160 ? h.heard[start..<start + 160].map { Int16(Double($0) * 0.1) } : nil
            try h.step(caller: echo)
        }
        #expect(h.events(.bargeIn).isEmpty)
        #expect(h.events(.bargeInPending).isEmpty, "not even a pause")
        #expect(h.events(.playoutStarted).count == 1)
    }

    @Test func bargeInCanBeDisabledButInterruptStillWorks() throws {
        let h = try SessionHarness { $0.bargeIn.enabled = false }
        try h.agentSays(item: 1, h.agentTone(milliseconds: 2000, amplitude: 3000))
        try h.silence(frames: 50)
        try h.callerTalks(frames: 15)
        #expect(h.events(.bargeIn).isEmpty)
        #expect(h.events(.speechStarted).count == 1)
        h.session.interrupt()
        try h.silence(frames: 1)
        #expect(h.events(.bargeIn).count == 1)
    }

    @Test func agentSideIsToldAboutTheCut() throws {
        let h = try SessionHarness()
        try h.agentSays(item: 77, h.agentTone(milliseconds: 2000, amplitude: 3000))
        try h.silence(frames: 50)
        try h.callerTalks(frames: 25)
        var kinds: [SessionEvent.Kind] = []
        var cut: SessionEvent?
        while let n = h.session.agent.pollNotification() {
            kinds.append(n.kind)
            if n.kind == .bargeIn { cut = n }
        }
        #expect(kinds == [.playoutStarted, .speechStarted, .bargeInPending, .bargeIn])
        #expect(cut?.item == 77)
        #expect(cut?.heardSamples == h.events(.bargeIn).first?.heardSamples)
    }
}
