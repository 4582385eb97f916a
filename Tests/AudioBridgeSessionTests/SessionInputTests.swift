// SPDX-License-Identifier: MIT
import AllocationCounter
import AudioBridgeCore
import AudioBridgeSession
import AudioBridgeTestSupport
import Testing

struct SessionInputTests {
    @Test func invalidConfigurationsAreRejectedWithTheirError() {
        func attempt(_ change: (inout SessionConfiguration) -> Void) -> AudioBridgeError? {
            var c = SessionConfiguration()
            change(&c)
            do { _ = try Session(configuration: c); return nil } catch { return error }
        }
        #expect(attempt { $0.frameMilliseconds = 25 } == .invalidFrameDuration)
        #expect(attempt { $0.agentFormat = .pcm16(sampleRate: 44100) } == .unsupportedSampleRate)
        #expect(attempt { $0.agentFormat = .pcm16(sampleRate: 48000) } == .unsupportedSampleRate)
        #expect(attempt { $0.phoneCodec = .slin16; $0.agentFormat = .g711Passthrough } == .invalidArgument)
        #expect(attempt { $0.resamplerQuality = 11 } == .unsupportedQuality)
        #expect(attempt { $0.playoutCapacityMilliseconds = 0 } == .invalidArgument)
        #expect(attempt { $0.bargeIn.fadeMilliseconds = 0 } == .invalidArgument)
        #expect(attempt { $0.frameMilliseconds = 10; $0.bargeIn.fadeMilliseconds = 10 } == nil)
        #expect(attempt { $0.eventCapacity = 3 } == .invalidArgument)
        #expect(attempt { _ in } == nil)
    }

    @Test func wrongFrameSizesAreRejectedAndTheSessionKeepsWorking() throws {
        let h = try SessionHarness()
        for size in [0, 1, 159, 161, 320 - 1, 321, 640] {
            let frame = [UInt8](repeating: 0, count: size)
            #expect(throws: AudioBridgeError.wrongFrameSize) { try frame.withUnsafeBytes { try h.session.media.writeCaller($0).get() } }
        }
        var small = [UInt8](repeating: 0, count: 319)
        #expect(throws: AudioBridgeError.bufferTooSmall) { _ = try small.withUnsafeMutableBytes { try h.session.media.readCaller(into: $0).get() } }
        try h.agentSays(item: 1, h.agentTone(milliseconds: 100))
        try h.agentEnds(item: 1)
        try h.silence(frames: 6)
        #expect(h.events(.playoutFinished).first?.heardSamples == 800)
        #expect(h.session.statistics.framesIn == 6)
    }

    @Test func itemZeroAndOddByteCountsAreHandled() throws {
        let h = try SessionHarness()
        let three: [UInt8] = [1, 2, 3]
        #expect(throws: AudioBridgeError.invalidArgument) { _ = try three.withUnsafeBytes { try h.session.agent.writeDownlink(item: 0, $0) } }
        #expect(try three.withUnsafeBytes { try h.session.agent.writeDownlink(item: 1, $0) } == 2, "whole samples only")
        #expect(throws: AudioBridgeError.invalidArgument) { try h.session.agent.endItem(0) }
        try h.session.agent.endItem(12345)  // never written: nothing to end
    }

    @Test func dtmfDigitsAreEventsAndOthersAreRejected() throws {
        let h = try SessionHarness()
        for digit in Array("0123456789*#ABCD".utf8) { try h.session.media.callerPressed(digit: digit).get() }
        for bad in Array("xE a".utf8) + [0, 255] {
            #expect(throws: AudioBridgeError.invalidArgument) { try h.session.media.callerPressed(digit: bad).get() }
        }
        try h.silence(frames: 1)
        #expect(String(decoding: h.events(.dtmf).map(\.digit), as: UTF8.self) == "0123456789*#ABCD")
    }

    @Test func eventOverflowIsCountedAndReported() throws {
        let h = try SessionHarness { $0.eventCapacity = 16 }
        for _ in 0..<40 { try h.session.media.callerPressed(digit: 0x31).get() }
        var events: [SessionEvent] = []
        while let e = h.session.pollEvent() { events.append(e) }
        #expect(events.count == 16)
        #expect(h.session.statistics.eventsDropped == 24)
        try h.session.media.callerPressed(digit: 0x32).get()  // room again: the loss is reported first
        let next = h.session.pollEvent(), after = h.session.pollEvent()
        #expect(next?.kind == .eventsDropped && next?.count == 24)
        #expect(after?.kind == .dtmf && after?.digit == 0x32)
    }

    @Test func uplinkOverflowIsCountedAndReportedOnce() throws {
        let h = try SessionHarness { $0.uplinkCapacityMilliseconds = 100 }
        try h.silence(frames: 8)  // nobody reads the uplink: 5 frames fit
        #expect(h.session.statistics.uplinkDroppedSamples == 3 * 160)
        #expect(h.events(.uplinkOverflow).count == 1)
        var sink = [UInt8](repeating: 0, count: 4000)
        _ = sink.withUnsafeMutableBytes { h.session.agent.readUplink(into: $0) }
        try h.silence(frames: 2)
        #expect(h.session.statistics.uplinkDroppedSamples == 3 * 160)
    }

    @Test func eventsFromBothSidesComeOutInOrder() throws {
        let h = try SessionHarness()
        try h.session.media.callerPressed(digit: 0x31).get()
        h.session.agent.report(SessionEvent(kind: .transportConnected))
        try h.session.media.callerPressed(digit: 0x32).get()
        h.session.agent.report(SessionEvent(kind: .transportError, code: -3))
        var kinds: [SessionEvent.Kind] = []
        while let e = h.session.pollEvent() { kinds.append(e.kind) }
        #expect(kinds == [.dtmf, .transportConnected, .dtmf, .transportError])
    }

    /// 24 kHz agent audio offered in pieces of random size against a small playout queue that is
    /// kept full (the media side plays a frame only when a piece was refused in part, as a
    /// transport waits for room): whatever `writeDownlink` says it took is played, sample for
    /// sample at the phone rate, with no gap; nothing is discarded and nothing taken is lost
    /// inside the resampler. Seeded, several seeds: a failure names the one that shows it.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func everythingTakenUnderBackPressureIsPlayed(seed: UInt64) throws {
        let harness = try SessionHarness {
            $0.agentFormat = .pcm16(sampleRate: 24_000)
            $0.playoutCapacityMilliseconds = 1_000
            $0.bargeIn.enabled = false
        }
        let audio = harness.agentTone(milliseconds: 6_000)
        var rng = SplitMix64(seed: seed)
        var offered = 0
        while offered < audio.count {
            let piece = min(audio.count - offered, Int.random(in: 1...3_000, using: &rng))
            let taken = try harness.agentSays(item: 1, Array(audio[offered..<(offered + piece)]))
            #expect(taken <= piece)
            offered += taken
            if taken < piece { try harness.step() }  // back-pressure: play a frame to make room
        }
        try harness.agentEnds(item: 1)
        try harness.silence(frames: 100)
        #expect(harness.session.statistics.downlinkDiscardedSamples == 0)
        #expect(harness.session.statistics.underrunFrames == 0)
        // 6 s at 24 kHz is 48,000 samples at 8 kHz, give or take the filter's delay.
        let played = harness.heard.lastIndex { $0 != 0 }.map { $0 + 1 - (harness.heard.firstIndex { $0 != 0 } ?? 0) } ?? 0
        #expect(abs(played - 48_000) <= 40, "played \(played) samples")
        #expect(harness.events(.playoutFinished).map(\.item) == [1])
    }

    /// Measured, not estimated: the heap this thread holds after creating 20 default sessions
    /// (2 s playout, 24 kHz agent), SpeexDSP's filter state and object headers included (per
    /// thread, so tests running alongside do not count).

    @Test func memoryPerSessionIsWithinBudget() throws {
        _ = try Session(configuration: SessionConfiguration())  // once-per-process tables made now
        ab_thread_bytes_start()
        let sessions = try (0..<20).map { _ in try Session(configuration: SessionConfiguration()) }
        let bytes = ab_thread_bytes_stop()
        try #require(bytes >= 0, "needs the interposed allocator (not under a sanitizer)")
        let perSession = Int(bytes) / sessions.count
        print("memory per session: \(perSession) bytes (\(perSession / 1024) KiB) measured; buffers \(sessions[0].bufferBytes) bytes")
        #expect(sessions[0].bufferBytes < perSession)
        // 2 s of playout, 500 ms of uplink at 24 kHz, three 64-event rings, detector and frames.
        #expect(perSession <= 128 * 1024)
    }
}
