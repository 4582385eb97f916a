// SPDX-License-Identifier: MIT
import AudioBridgeRTP
import AudioBridgeTestSupport
import Testing

struct TelephoneEventTests {
    /// protocols.md §6.2's worked example: digit 5, volume 10, 160 then the end at 800.
    @Test func theWorkedExampleParses() {
        let update: [UInt8] = [0x05, 0x0A, 0x00, 0xA0], end: [UInt8] = [0x05, 0x8A, 0x03, 0x20]
        #expect(update.withUnsafeBytes { TelephoneEvent.parse($0) } == TelephoneEvent(event: 5, volume: 10, duration: 160))
        #expect(end.withUnsafeBytes { TelephoneEvent.parse($0) } == TelephoneEvent(event: 5, isEnd: true, volume: 10, duration: 800))
        #expect([UInt8](repeating: 0, count: 3).withUnsafeBytes { TelephoneEvent.parse($0) } == nil)
        var written = [UInt8](repeating: 0, count: 4)
        written.withUnsafeMutableBytes { _ = TelephoneEvent(event: 5, isEnd: true, volume: 10, duration: 800).write(to: $0) }
        #expect(written == end)
    }

    @Test func everyDigitMapsBothWays() {
        let digits = Array("0123456789*#ABCD".utf8)
        for (event, digit) in digits.enumerated() {
            #expect(TelephoneEvent.digit(forEvent: UInt8(event)) == digit)
            #expect(TelephoneEvent.event(forDigit: digit) == UInt8(event))
        }
        #expect(TelephoneEvent.digit(forEvent: 16) == nil)
        #expect(TelephoneEvent.event(forDigit: UInt8(ascii: "E")) == nil)
    }

    /// What RFC 4733 §2.5 asks of a sender: marker on the first packet only, one timestamp,
    /// growing durations, the end three times with the final duration.
    @Test func theSenderSendsOneEventAsTheRFCDescribes() {
        var sender = TelephoneEventSender()
        sender.start(event: 11, timestamp: 4000, duration: 800)
        var packets: [TelephoneEventSender.Packet] = []
        while let packet = sender.next() { packets.append(packet) }
        #expect(packets.map(\.event.duration) == [160, 320, 480, 640, 800, 800, 800])
        #expect(packets.map(\.event.isEnd) == [false, false, false, false, true, true, true])
        #expect(packets.map(\.marker) == [true, false, false, false, false, false, false])
        #expect(packets.allSatisfy { $0.timestamp == 4000 && $0.event.event == 11 })
        #expect(!sender.isActive)
    }

    /// Presses go through a channel that loses, duplicates and reorders packets (never all of
    /// one press): each press comes out exactly once, in order, with its digit.
    @Test func eachPressIsReportedOnceThroughALossyChannel() {
        var random = SplitMix64(seed: 4733)
        for trial in 0..<300 {
            var receiver = TelephoneEventReceiver()
            var pressed: [UInt8] = [], began: [UInt8] = [], ended: [UInt8] = []
            var timestamp: UInt32 = UInt32(truncatingIfNeeded: random.next())
            var time: Int64 = 0
            for _ in 0..<(1 + random.next() % 8) {
                let event = UInt8(random.next() % 16)
                pressed.append(event)
                var sender = TelephoneEventSender()
                sender.start(event: event, timestamp: timestamp, duration: UInt32(160 * (1 + random.next() % 12)))
                var packets: [TelephoneEventSender.Packet] = []
                while let packet = sender.next() {
                    if random.next() % 5 != 0 { packets.append(packet) }  // 20 % loss
                    if random.next() % 7 == 0 { packets.append(packet) }  // duplicates
                }
                if packets.isEmpty { packets.append(TelephoneEventSender.Packet(event: TelephoneEvent(event: event, isEnd: true, duration: 160), marker: false, timestamp: timestamp)) }
                if packets.count > 2, random.next() % 3 == 0 { packets.swapAt(0, Int(random.next() % UInt64(packets.count))) }
                for packet in packets {
                    time += 20
                    switch receiver.receive(packet.event, ssrc: 42, timestamp: packet.timestamp, arrivalTime: time) {
                    case .began(let e): began.append(e)
                    case .beganAndEnded(let e, _): began.append(e); ended.append(e)
                    case .ended(let e, _): ended.append(e)
                    case nil: break
                    }
                }
                time += 1000
                if case .ended(let e, _) = receiver.expire(now: time, timeout: 500) { ended.append(e) }
                timestamp &+= 16_000
            }
            #expect(began == pressed, "trial \(trial)")
            #expect(ended == pressed, "trial \(trial)")
        }
    }

    @Test func anEndArrivingAloneIsOnePressWithItsDuration() {
        var receiver = TelephoneEventReceiver()
        let end = TelephoneEvent(event: 3, isEnd: true, duration: 960)
        #expect(receiver.receive(end, ssrc: 1, timestamp: 100, arrivalTime: 0) == .beganAndEnded(event: 3, duration: 960))
        #expect(receiver.receive(end, ssrc: 1, timestamp: 100, arrivalTime: 1) == nil)
        #expect(receiver.receive(end, ssrc: 1, timestamp: 100, arrivalTime: 2) == nil)
        #expect(receiver.duplicates == 2)
        // The same digit again, later: a second press.
        #expect(receiver.receive(TelephoneEvent(event: 3, duration: 160), ssrc: 1, timestamp: 2000, arrivalTime: 3) == .began(event: 3))
        #expect(receiver.expire(now: 100, timeout: 500) == nil)
        #expect(receiver.expire(now: 503, timeout: 500) == .ended(event: 3, duration: 160))
    }
}
