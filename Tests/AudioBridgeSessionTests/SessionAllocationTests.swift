// SPDX-License-Identifier: MIT
import AllocationCounter
import AudioBridgeCore
import AudioBridgeSession
import Foundation
import Testing

/// The realtime contract for a whole session: 100,000 full-duplex frames with agent items,
/// caller speech, pauses that resume, barge-ins, interrupts, DTMF and events, counted call by call — zero heap
/// calls and zero mutex locks on the media path and on the agent side alike.
@Suite(.serialized)
struct SessionAllocationTests {
    @Test func steadyStateSessionTrafficAllocatesNothing() throws {
        #expect(ab_counting_is_interposed() == 1)
        var configuration = SessionConfiguration()
        configuration.agentFormat = .pcm16(sampleRate: 24000)
        let session = try Session(configuration: configuration)

        let agentAudio = (0..<24000).map { Int16(5000 * sin(Double($0) * 0.05)) }  // 1 s at 24 kHz
        let quiet = [UInt8](repeating: 0xFF, count: 160)
        let talking = (0..<160).map { ULaw.encode(Int16(12000 * sin(Double($0) * 2 * .pi * 300 / 8000))) }
        let heard = UnsafeMutableRawBufferPointer.allocate(byteCount: 160, alignment: 16)
        let uplink = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        // Raw copies: Array.withUnsafeBytes rethrows untyped errors, which box (allocate).
        let agentBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: agentAudio.count * 2, alignment: 16)
        let quietBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 160, alignment: 16)
        let talkingBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 160, alignment: 16)
        agentAudio.withUnsafeBytes { agentBytes.copyMemory(from: $0) }
        quiet.withUnsafeBytes { quietBytes.copyMemory(from: $0) }
        talking.withUnsafeBytes { talkingBytes.copyMemory(from: $0) }
        defer { [heard, uplink, agentBytes, quietBytes, talkingBytes].forEach { $0.deallocate() } }

        var events = 0, bargeIns = 0, resumes = 0, item: UInt64 = 0
        func frame(_ i: Int) throws(AudioBridgeError) {
            if i % 100 == 0 {
                item += 1
                _ = try session.agent.writeDownlink(item: item, UnsafeRawBufferPointer(agentBytes))
                try session.agent.endItem(item)
            }
            if i % 1000 == 500 { session.interrupt() }
            if i % 1000 == 700 { try session.media.callerPressed(digit: 0x35).get() }
            // A short sound (pauses, then resumes) and then real talk (pauses, then commits).
            let caller = (i % 100 >= 10 && i % 100 < 17) || (i % 100 >= 30 && i % 100 < 45) ? talkingBytes : quietBytes
            try session.media.writeCaller(UnsafeRawBufferPointer(caller)).get()
            _ = try session.media.readCaller(into: heard).get()
            while session.agent.readUplink(into: uplink) > 0 {}
            while let event = session.pollEvent() {
                events += 1
                if event.kind == .bargeIn { bargeIns += 1 }
                if event.kind == .bargeInResumed { resumes += 1 }
            }
            while session.agent.pollNotification() != nil {}
        }

        for i in 0..<200 { try frame(i) }  // warm-up of the loop itself
        let frames = 100_000
        ab_counting_start()
        for i in 200..<(200 + frames) { try frame(i) }
        let counts = ab_counting_stop()
        #expect(counts.allocations == 0)
        #expect(counts.frees == 0)
        #expect(counts.mutex_locks == 0)
        // One item per 100 frames, cut by caller speech, except every tenth: that one is
        // interrupted before it starts (no barge-in event, only a flush).
        #expect(bargeIns >= frames / 100 * 9 / 10 - 2, "barge-ins really happened: \(bargeIns)")
        #expect(resumes >= frames / 100 * 9 / 10 - 2, "pauses really resumed: \(resumes)")
        #expect(events >= frames / 100 * 3, "events really flowed: \(events)")
        let stats = session.statistics
        #expect(stats.eventsDropped == 0 && stats.uplinkDroppedSamples == 0)
    }
}
