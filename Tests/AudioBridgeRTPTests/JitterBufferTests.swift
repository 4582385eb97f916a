// SPDX-License-Identifier: MIT
import AllocationCounter
import AudioBridgeCore
import AudioBridgeRTP
import AudioBridgeSession
import AudioBridgeTestSupport
import Foundation
import Testing

/// A scripted RTP stream through the jitter buffer on a manual clock (samples at 8 kHz): the
/// test says when each packet arrives, the buffer is read every 160 samples of the clock.
struct JitterScenario {
    struct Packet {
        var index: Int  // which 20 ms packet of the source
        var arrival: Int64
        var ssrc: UInt32 = 0x1234
        var timestampOffset: UInt32 = 0
    }

    /// Two tones, slowly modulated: a waveform whose every step is known.
    static func source(_ sample: Int) -> Int16 {
        let t = Double(sample) / 8000
        return Int16(6000 * sin(2 * .pi * 310 * t) + 2500 * sin(2 * .pi * 1130 * t) * (0.6 + 0.4 * sin(2 * .pi * 3 * t)))
    }

    /// The largest step between two samples of the source itself.
    static let sourceMaximumStep: Int = (1..<16000).map { abs(Int(source($0)) - Int(source($0 - 1))) }.max()!

    var packets: [Packet]
    var settings = JitterBufferSettings()
    var duration: Int64

    struct Result {
        var output: [Int16] = []
        var kinds: [JitterBuffer.FrameKind] = []
        var insertResults: [JitterBuffer.InsertResult] = []
        var statistics = JitterBufferStatistics()
        var delays: [Int] = []

        /// The largest step between consecutive output samples: a click shows as a step far
        /// above the source's own.
        var maximumStep: Int { zip(output.dropFirst(), output).map { abs(Int($0) - Int($1)) }.max() ?? 0 }
        func count(_ kind: JitterBuffer.FrameKind) -> Int { kinds.filter { $0 == kind }.count }
    }

    func run() throws -> Result {
        let buffer = try JitterBuffer(settings: settings)
        let ordered = packets.sorted { $0.arrival < $1.arrival }
        var result = Result()
        var next = 0
        var frame = [Int16](repeating: 0, count: 160)
        var payload = [Int16](repeating: 0, count: 160)
        var now: Int64 = 0
        while now < duration {
            while next < ordered.count, ordered[next].arrival <= now {
                let packet = ordered[next]
                for i in 0..<160 { payload[i] = Self.source(packet.index * 160 + i) }
                let timestamp = UInt32(truncatingIfNeeded: 1_000_000 + packet.index * 160) &+ packet.timestampOffset
                let inserted = payload.withUnsafeBufferPointer {
                    buffer.insert($0, timestamp: timestamp, sequenceNumber: UInt16(truncatingIfNeeded: 40_000 + packet.index), ssrc: packet.ssrc, arrival: packet.arrival)
                }
                result.insertResults.append(inserted)
                next += 1
            }
            let kind = frame.withUnsafeMutableBufferPointer { buffer.read(into: $0, now: now) }
            result.kinds.append(kind)
            result.output += frame
            result.delays.append(buffer.statistics.delayMilliseconds)
            now += 160
        }
        result.statistics = buffer.statistics
        return result
    }

    /// Packets 0..<count sent every 20 ms, each arriving `network(index)` samples after it was sent
    /// (nil: lost).
    static func stream(count: Int, network: (Int) -> Int64?) -> [Packet] {
        (0..<count).compactMap { index in network(index).map { Packet(index: index, arrival: Int64(index * 160) + $0) } }
    }
}

struct JitterBufferTests {
    /// A clean network: after the first frame, the output is the source delayed by a whole
    /// number of frames, sample for sample; the delay is the minimum.
    @Test func aCleanStreamPlaysBitExactAtTheMinimumDelay() throws {
        let result = try JitterScenario(packets: JitterScenario.stream(count: 250) { _ in 40 }, duration: 250 * 160).run()
        #expect(result.statistics.framesConcealed == 0 && result.statistics.late == 0)
        let firstAudio = try #require(result.kinds.firstIndex(of: .audio))
        // The first frame fades in; every later one is the source.
        for frame in (firstAudio + 1)..<(firstAudio + 200) {
            let sourceFrame = frame - firstAudio
            #expect(Array(result.output[(frame * 160)..<(frame * 160 + 160)]) == (0..<160).map { JitterScenario.source(sourceFrame * 160 + $0) })
        }
        #expect(result.delays.last! >= 20 && result.delays.last! <= 40, "the minimum, rounded up to where the 20 ms reads fall")
    }

    /// Pairs swapped in flight and every fifth packet duplicated: nothing concealed, counted
    /// duplicates, bit-exact output.
    @Test func reorderedAndDuplicatedPacketsPlayInOrder() throws {
        var packets = JitterScenario.stream(count: 250) { index in index % 2 == 0 ? 120 : 40 }  // odd ones overtake
        packets += packets.filter { $0.index % 5 == 0 }.map { var p = $0; p.arrival += 30; return p }
        let result = try JitterScenario(packets: packets, duration: 250 * 160).run()
        #expect(result.statistics.framesConcealed == 0)
        #expect(result.statistics.duplicates == 50)
        #expect(result.insertResults.filter { $0 == .duplicate }.count == 50)
        let firstAudio = try #require(result.kinds.firstIndex(of: .audio))
        let frame = firstAudio + 100
        #expect(Array(result.output[(frame * 160)..<(frame * 160 + 160)]) == (0..<160).map { JitterScenario.source(100 * 160 + $0) })
    }

    /// One lost packet is one concealed frame; a 100 ms burst is three frames of fading
    /// concealment and two of silence; neither clicks, on the way in or out.
    @Test func lossIsConcealedWithoutAClick() throws {
        let lost: Set<Int> = [60, 120, 121, 122, 123, 124]
        let result = try JitterScenario(packets: JitterScenario.stream(count: 250) { lost.contains($0) ? nil : 40 }, duration: 250 * 160).run()
        #expect(result.statistics.framesConcealed == 4)
        #expect(result.count(.silence) - (result.kinds.firstIndex(of: .audio) ?? 0) == 2)
        #expect(result.maximumStep <= 2 * JitterScenario.sourceMaximumStep, "largest step \(result.maximumStep), source's own \(JitterScenario.sourceMaximumStep)")
    }

    /// The delay grows to cover jitter spikes (late packets stop after the first ones), stays
    /// within its bounds, and shrinks back when the network calms down.
    @Test func theDelayAdaptsUpAndBackDown() throws {
        // 4 s with an 80 ms spike every 500 ms, then 6 s of calm.
        let packets = JitterScenario.stream(count: 500) { index in index < 200 && index % 25 == 0 ? 640 + 40 : 40 }
        let result = try JitterScenario(packets: packets, duration: 500 * 160).run()
        let lateAfterFirstSecond = zip(result.insertResults, packets.sorted { $0.arrival < $1.arrival }).filter { $0.0 == .late && $0.1.index >= 50 }.count
        #expect(result.statistics.late >= 1 && lateAfterFirstSecond == 0, "late: \(result.statistics.late), after 1 s: \(lateAfterFirstSecond)")
        #expect(result.delays[150] >= 80 && result.delays[150] <= 110, "delay during spikes: \(result.delays[150])")
        #expect(result.delays.last! <= 40, "delay after calm: \(result.delays.last!)")
        #expect(result.statistics.framesRepeated > 0 && result.statistics.framesSkipped > 0)
        #expect(result.delays.allSatisfy { $0 <= 200 + 20 })
        #expect(result.maximumStep <= 2 * JitterScenario.sourceMaximumStep)
    }

    /// Packets arriving in bursts, five at a time every 100 ms (a sender that reads its input in
    /// chunks, as ffmpeg -re does): after the first burst the delay covers the burst and nothing
    /// is concealed or late.
    @Test func burstyArrivalsAreSmoothedOut() throws {
        let packets = JitterScenario.stream(count: 500) { index in Int64((4 - index % 5) * 160) + 40 }  // each waits for the burst's last
        let result = try JitterScenario(packets: packets, duration: 500 * 160).run()
        let concealedAfterStart = result.kinds.dropFirst(50).filter { $0 == .concealed }.count
        #expect(concealedAfterStart == 0 && result.statistics.late <= 5, "concealed \(concealedAfterStart), late \(result.statistics.late)")
        #expect(result.delays.suffix(400).allSatisfy { $0 >= 80 && $0 <= 130 }, "\(result.delays.suffix(400).min()!)–\(result.delays.suffix(400).max()!)")
        #expect(result.maximumStep <= 2 * JitterScenario.sourceMaximumStep)
    }

    /// Configured bounds hold: a 60 ms minimum is kept on a clean network, a 100 ms maximum
    /// under 300 ms of jitter (the packets beyond it are late instead). Seeded: the same trace
    /// every run.
    @Test func theDelayStaysWithinItsBounds() throws {
        let clean = try JitterScenario(packets: JitterScenario.stream(count: 200) { _ in 0 }, settings: JitterBufferSettings(minimumDelayMilliseconds: 60, maximumDelayMilliseconds: 100), duration: 200 * 160).run()
        #expect(clean.delays.suffix(100).allSatisfy { $0 >= 60 && $0 <= 80 })
        var random = SplitMix64(seed: 300)
        let wild = try JitterScenario(packets: JitterScenario.stream(count: 300) { _ in Int64.random(in: 0...2400, using: &random) }, settings: JitterBufferSettings(minimumDelayMilliseconds: 20, maximumDelayMilliseconds: 100), duration: 300 * 160).run()
        // The maximum, plus at most the shrink hysteresis (a frame and the 5 ms margin).
        #expect(wild.delays.suffix(200).allSatisfy { $0 <= 100 + 25 }, "\(wild.delays.suffix(200).max()!)")
        #expect(wild.statistics.targetDelayMilliseconds <= 100)
        #expect(wild.statistics.late > 0)
        #expect(throws: AudioBridgeError.invalidArgument) { try JitterBuffer(settings: JitterBufferSettings(minimumDelayMilliseconds: 100, maximumDelayMilliseconds: 50)) }
    }

    /// A sender clock 0.1 % fast or slow for a minute: the buffer skips or replays a frame now
    /// and then (about 3 in 60 s), never runs dry, never lets a packet be late.
    @Test(arguments: [0.999, 1.001])
    func clockDriftIsAbsorbed(rate: Double) throws {
        let count = 3000
        let packets = (0..<count).map { JitterScenario.Packet(index: $0, arrival: Int64(Double($0 * 160) * rate) + 40) }
        let result = try JitterScenario(packets: packets, duration: Int64(Double(count * 160) * rate)).run()
        #expect(result.statistics.late == 0 && result.statistics.framesConcealed == 0)
        let adjustments = rate < 1 ? result.statistics.framesSkipped : result.statistics.framesRepeated
        #expect(adjustments >= 2 && adjustments <= 5, "adjustments: \(adjustments)")
        #expect(result.delays.suffix(2900).allSatisfy { $0 >= 5 && $0 <= 50 })
        #expect(result.maximumStep <= 2 * JitterScenario.sourceMaximumStep)
    }

    /// A timestamp jump under the same SSRC re-anchors; a new SSRC resets. Audio resumes within
    /// the delay each time, without a click.
    @Test func timestampJumpsAndNewSourcesResynchronise() throws {
        var packets = JitterScenario.stream(count: 300) { _ in 40 }
        for i in 100..<200 { packets[i].timestampOffset = 5_000_000 }
        for i in 200..<300 { packets[i].ssrc = 0x9999 }
        let result = try JitterScenario(packets: packets, duration: 300 * 160).run()
        #expect(result.statistics.resynchronisations == 1)
        #expect(result.statistics.sourceChanges == 1)
        #expect(result.count(.audio) >= 290, "audio frames: \(result.count(.audio))")
        #expect(result.maximumStep <= 2 * JitterScenario.sourceMaximumStep)
    }

    /// The closing figure: a 5 % random loss trace with 0–30 ms of jitter, 60 s. Concealment
    /// matches the loss; nothing else is concealed; no click.
    @Test func fivePercentRandomLoss() throws {
        var random = SplitMix64(seed: 5)
        let count = 3000
        var lost = 0
        let packets = JitterScenario.stream(count: count) { _ in
            if Double.random(in: 0..<1, using: &random) < 0.05 { lost += 1; return nil }
            return Int64.random(in: 0...240, using: &random)
        }
        let result = try JitterScenario(packets: packets, duration: Int64(count * 160)).run()
        let s = result.statistics
        let meanDelay = Double(result.delays.suffix(2900).reduce(0, +)) / 2900
        print("5% loss trace: lost \(lost), late \(s.late), concealed \(s.framesConcealed), silent \(s.framesSilent), skipped \(s.framesSkipped), repeated \(s.framesRepeated), mean delay \(String(format: "%.1f", meanDelay)) ms, max step \(result.maximumStep) (source \(JitterScenario.sourceMaximumStep))")
        #expect(s.late <= 10, "late: \(s.late)")
        #expect(Int(s.framesConcealed) >= lost - 5 && Int(s.framesConcealed) <= lost + Int(s.late) + Int(s.framesRepeated), "concealed \(s.framesConcealed) for \(lost) lost")
        #expect(meanDelay >= 30 && meanDelay <= 60, "mean delay \(meanDelay)")
        #expect(result.maximumStep <= 2 * JitterScenario.sourceMaximumStep)
    }
}

/// The realtime contract for the jitter buffer: 100,000 frames of packets in (reordered,
/// duplicated, lost, late) and frames out, with no heap call and no lock.
struct JitterBufferAllocationTests {
    @Test func insertingAndReadingAllocatesNothing() throws {
        #expect(ab_counting_is_interposed() == 1)
        let buffer = try JitterBuffer()
        let payload = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 160)
        let out = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 160)
        defer { payload.deallocate(); out.deallocate() }
        for i in 0..<160 { payload[i] = JitterScenario.source(i) }
        var kinds = (audio: 0, concealed: 0)
        func frame(_ k: Int) {
            let now = Int64(k * 160)
            // Every 7th packet arrives a frame late (after the next), every 11th twice, every 13th never.
            if k % 13 != 0, k % 7 != 0 { buffer.insert(UnsafeBufferPointer(payload), timestamp: UInt32(truncatingIfNeeded: k * 160), sequenceNumber: UInt16(truncatingIfNeeded: k), ssrc: 7, arrival: now) }
            if k % 7 == 1 { buffer.insert(UnsafeBufferPointer(payload), timestamp: UInt32(truncatingIfNeeded: (k - 1) * 160), sequenceNumber: UInt16(truncatingIfNeeded: k - 1), ssrc: 7, arrival: now) }
            if k % 11 == 0 { buffer.insert(UnsafeBufferPointer(payload), timestamp: UInt32(truncatingIfNeeded: k * 160), sequenceNumber: UInt16(truncatingIfNeeded: k), ssrc: 7, arrival: now) }
            switch buffer.read(into: out, now: now) {
            case .audio: kinds.audio += 1
            case .concealed: kinds.concealed += 1
            case .silence: break
            }
        }
        for k in 0..<500 { frame(k) }
        ab_counting_start()
        for k in 500..<100_500 { frame(k) }
        let counts = ab_counting_stop()
        #expect(counts.allocations == 0 && counts.frees == 0 && counts.mutex_locks == 0)
        #expect(kinds.audio > 80_000 && kinds.concealed > 5_000, "both paths ran: \(kinds)")
        #expect(buffer.statistics.duplicates > 5_000)
    }
}
