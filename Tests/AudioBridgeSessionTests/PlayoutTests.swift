// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeSession
import Testing

struct PlayoutTests {
    @Test func callerHearsSilenceWhenNothingIsQueued() throws {
        for codec in PhoneCodec.allCases {
            let h = try SessionHarness { $0.phoneCodec = codec }
            try h.silence(frames: 5)
            let silence: Int16 = codec == .alaw ? 8 : 0  // A-law has no zero: its idle code 0xD5 is +8
            #expect(h.heard.allSatisfy { $0 == silence }, "\(codec)")
            #expect(h.events.isEmpty)
        }
    }

    @Test func itemPlaysInOrderAndItsHeardPositionIsExact() throws {
        let h = try SessionHarness()
        let audio = h.agentTone(milliseconds: 1010)  // not a whole number of frames
        #expect(try h.agentSays(item: 7, audio) == audio.count)
        try h.agentEnds(item: 7)
        try h.silence(frames: 60)

        #expect(Array(h.heard.prefix(audio.count)) == audio, "played sample for sample")
        #expect(h.heard.dropFirst(audio.count).allSatisfy { $0 == 0 })
        let started = h.events(.playoutStarted), finished = h.events(.playoutFinished)
        #expect(started.map(\.item) == [7])
        #expect(finished.map(\.item) == [7])
        #expect(finished.first?.heardSamples == UInt64(audio.count))
        #expect(finished.first?.heardMilliseconds == 1010)
        #expect(started.first!.timestampMilliseconds == 20)
        #expect(finished.first!.timestampMilliseconds == 1020, "finished in the frame that handed out its last sample")
        #expect(h.session.statistics.underrunFrames == 0)
    }

    @Test func consecutiveItemsAndAnImplicitEnd() throws {
        let h = try SessionHarness()
        try h.agentSays(item: 1, h.agentTone(milliseconds: 100))
        try h.agentSays(item: 2, h.agentTone(milliseconds: 60))  // a new id ends item 1
        try h.agentEnds(item: 2)
        try h.silence(frames: 12)
        #expect(h.events.map(\.kind) == [.playoutStarted, .playoutFinished, .playoutStarted, .playoutFinished])
        #expect(h.events(.playoutFinished).map(\.heardSamples) == [800, 480])
        #expect(h.events(.playoutStarted).map(\.item) == [1, 2])
    }

    @Test func agentAudioAtEveryRateAndCodecReachesTheCaller() throws {
        for rate in [8000, 16000, 24000] {
            for codec in PhoneCodec.allCases {
                let h = try SessionHarness { $0.agentFormat = .pcm16(sampleRate: rate); $0.phoneCodec = codec }
                let audio = h.agentTone(milliseconds: 500, amplitude: 10000, frequency: 500)
                #expect(try h.agentSays(item: 3, audio) == audio.count)
                try h.agentEnds(item: 3)
                try h.silence(frames: 30)
                let peak = h.heard.map { abs(Int($0)) }.max() ?? 0
                #expect(peak > 9000 && peak < 11000, "\(rate) Hz, \(codec): peak \(peak)")
                let finished = h.events(.playoutFinished)
                #expect(finished.count == 1)
                // 500 ms at the agent rate is 4000 samples at 8 kHz, give or take the filter's rounding.
                #expect(abs(Int(finished.first?.heardSamples ?? 0) - 4000) <= 2, "\(rate) Hz, \(codec)")
            }
        }
    }

    @Test func g711PassthroughKeepsTheBytesBothWays() throws {
        for codec in [PhoneCodec.ulaw, .alaw] {
            let h = try SessionHarness { $0.phoneCodec = codec; $0.agentFormat = .g711Passthrough }
            // Every code but μ-law's "−0" (0x7F), which plays as +0 (0xFF).
            let codes = (0..<1600).map { UInt8(truncatingIfNeeded: $0 * 37) }.filter { codec == .alaw || $0 != 0x7F }
            let taken = try codes.withUnsafeBytes { try h.session.agent.writeDownlink(item: 1, $0) }
            #expect(taken == codes.count)
            var heardCodes: [UInt8] = []
            for _ in 0..<12 {
                let callerFrame = [UInt8](repeating: 0x42, count: 160)
                try callerFrame.withUnsafeBytes { try h.session.media.writeCaller($0).get() }
                var out = [UInt8](repeating: 0, count: 160)
                _ = try out.withUnsafeMutableBytes { try h.session.media.readCaller(into: $0).get() }
                heardCodes += out
            }
            #expect(Array(heardCodes.prefix(codes.count)) == codes, "\(codec)")
            var uplink = [UInt8](repeating: 0, count: 4000)
            let read = uplink.withUnsafeMutableBytes { h.session.agent.readUplink(into: $0) }
            #expect(read == 12 * 160)
            #expect(uplink.prefix(read).allSatisfy { $0 == 0x42 }, "the caller's bytes reach the agent untouched")
        }
    }

    @Test func uplinkCarriesCallerAudioAtTheAgentRate() throws {
        let h = try SessionHarness { $0.agentFormat = .pcm16(sampleRate: 24000) }
        try h.callerTalks(frames: 10)
        #expect(h.session.agent.uplinkBytesAvailable() == 10 * 480 * 2)
        var out = [Int16](repeating: 0, count: 10 * 480)
        let bytes = out.withUnsafeMutableBytes { h.session.agent.readUplink(into: $0) }
        #expect(bytes == 10 * 480 * 2)
        let peak = out.dropFirst(480).map { abs(Int($0)) }.max() ?? 0
        #expect(peak > 11000 && peak < 13000)
    }

    @Test func fullPlayoutQueueBackPressuresInsteadOfDropping() throws {
        let h = try SessionHarness { $0.playoutCapacityMilliseconds = 1000 }
        let audio = h.agentTone(milliseconds: 3000)
        var offered = audio[...]
        var total = try h.agentSays(item: 1, Array(offered))
        #expect(total > 7900 && total <= 8000, "about one second fits")
        offered = offered.dropFirst(total)
        #expect(try h.agentSays(item: 1, Array(offered)) == 0, "still full")
        while !offered.isEmpty {
            try h.silence(frames: 5)
            let taken = try h.agentSays(item: 1, Array(offered))
            offered = offered.dropFirst(taken)
            total += taken
        }
        try h.agentEnds(item: 1)
        try h.silence(frames: 60)
        #expect(total == audio.count)
        #expect(Array(h.heard.prefix(audio.count)) == audio, "nothing lost, nothing reordered")
        #expect(h.session.statistics.downlinkDiscardedSamples == 0)
    }

    @Test func slowAgentAudioIsAnUnderrunNotALoss() throws {
        let h = try SessionHarness()
        let audio = h.agentTone(milliseconds: 200)
        try h.agentSays(item: 1, Array(audio[0..<800]))
        try h.silence(frames: 7)  // 140 ms: the last 40 ms of it are silence padding
        try h.agentSays(item: 1, Array(audio[800...]))
        try h.agentEnds(item: 1)
        try h.silence(frames: 10)
        #expect(h.session.statistics.underrunFrames >= 2)
        #expect(h.events(.playoutFinished).first?.heardSamples == 1600, "heard counts real samples only")
        let nonSilent = h.heard.filter { $0 != 0 }.count
        #expect(nonSilent <= 1600 && nonSilent > 1500)
    }
}
