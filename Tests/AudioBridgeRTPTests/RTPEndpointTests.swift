// SPDX-License-Identifier: MIT
import AllocationCounter
import AudioBridgeCore
import AudioBridgeRTP
import AudioBridgeSession
import AudioBridgeTestSupport
import AudioBridgeTransports
import Foundation
import Testing

/// A session behind an RTP endpoint, with the agent side read and written by hand.
final class RTPCall {
    let session: Session
    let endpoint: RTPEndpoint
    var now: UInt64 = 0
    var sent: [[UInt8]] = []

    init(codec: PhoneCodec = .ulaw, bargeIn: Bool = true, configure: (inout RTPEndpointConfiguration) -> Void = { _ in }) throws {
        var configuration = SessionConfiguration()
        configuration.phoneCodec = codec
        configuration.agentFormat = .pcm16(sampleRate: 8000)
        configuration.bargeIn.enabled = bargeIn
        // The tests queue a whole answer at once and read the uplink at the end (an agent side
        // offers the rest again under back-pressure and reads every turn): room for that here.
        configuration.playoutCapacityMilliseconds = 20_000
        configuration.uplinkCapacityMilliseconds = 2_000
        session = try Session(configuration: configuration)
        var rtp = RTPEndpointConfiguration()
        rtp.payloadType = RTPEndpointConfiguration.payloadType(for: codec)
        configure(&rtp)
        endpoint = try RTPEndpoint(session: session, configuration: rtp)
    }

    @discardableResult
    func receive(_ datagram: [UInt8], lateBy microseconds: UInt64 = 0) -> RTPEndpoint.ReceiveResult {
        datagram.withUnsafeBytes { endpoint.receive($0, arrivalMicroseconds: now + microseconds) }
    }

    func tick() throws {
        var out = [UInt8](repeating: 0, count: 1600)
        let count = try out.withUnsafeMutableBytes { try endpoint.tick(nowMicroseconds: now, into: $0).get() }
        sent.append(Array(out.prefix(count)))
        now += 20_000
    }

    /// What the agent side received from the caller, as 8 kHz samples.
    func uplink() -> [Int16] {
        var out = [Int16](repeating: 0, count: 8000)
        var all: [Int16] = []
        while true {
            let bytes = out.withUnsafeMutableBytes { session.agent.readUplink(into: $0) }
            if bytes == 0 { return all }
            all += out.prefix(bytes / 2)
        }
    }

    func events() -> [SessionEvent] {
        var events: [SessionEvent] = []
        while let event = session.pollEvent() { events.append(event) }
        return events
    }
}

func tone(_ index: Int) -> Int16 { Int16(9000 * sin(2 * .pi * 440 * Double(index) / 8000)) }

func audioPacket(_ k: Int, ssrc: UInt32 = 0xABCD, payloadType: UInt8 = 0, encode: (Int16) -> UInt8 = ULaw.encode) -> [UInt8] {
    RTPPacket(header: RTPHeader(marker: k == 0, payloadType: payloadType, sequenceNumber: UInt16(truncatingIfNeeded: 65_500 + k), timestamp: UInt32(truncatingIfNeeded: 4_294_960_000 + k * 160), ssrc: ssrc),
              payload: (0..<160).map { encode(tone(k * 160 + $0)) }).serialized()
}

struct RTPEndpointTests {
    /// A short sound from the caller pauses the agent: RTP keeps flowing (silence packets, the
    /// timestamps run on), and the answer resumes from exactly the paused sample — no packet
    /// carries a repeated or skipped sample of it.
    @Test func aPauseIsSilencePacketsAndTheAnswerResumesWhereItStopped() throws {
        let call = try RTPCall()
        var phase = 0.0
        let answer: [Int16] = (0..<24_000).map { n in
            phase += 2 * Double.pi * (450 + 100 * sin(2 * Double.pi * 0.7 * Double(n) / 8000)) / 8000
            return Int16(6000 * sin(phase))
        }
        _ = try answer.withUnsafeBytes { try call.session.agent.writeDownlink(item: 1, $0) }
        try call.session.agent.endItem(1)
        var k = 0
        func step(_ samples: (Int) -> Int16) throws {
            let packet = RTPPacket(header: RTPHeader(payloadType: 0, sequenceNumber: UInt16(k), timestamp: UInt32(k * 160), ssrc: 0x5150),
                                   payload: (0..<160).map { ULaw.encode(samples(k * 160 + $0)) })
            call.receive(packet.serialized())
            try call.tick()
            k += 1
        }
        for _ in 0..<50 { try step { _ in 0 } }
        for _ in 0..<7 {  // 140 ms of a syllable-modulated voice
            try step { n in Int16(12000 * (0.6 + 0.4 * cos(2 * .pi * 4 * Double(n) / 8000)) * sin(2 * .pi * 300 * Double(n) / 8000)) }
        }
        for _ in 0..<170 { try step { _ in 0 } }

        let events = call.events()
        let pauses = events.filter { $0.kind == .bargeInPending }, resumes = events.filter { $0.kind == .bargeInResumed }
        #expect(pauses.count == 1 && resumes.count == 1 && !events.contains { $0.kind == .bargeIn }, "\(events.map(\.kind))")
        guard let pause = pauses.first else { return }
        let packets = try call.sent.map { try RTPPacketView.parse($0) }
        #expect(packets.count == k, "a packet every 20 ms, paused or not")
        #expect(zip(packets, packets.dropFirst()).allSatisfy { $1.header.timestamp &- $0.header.timestamp == 160 })
        let heard = zip(call.sent, packets).flatMap { bytes, view in bytes[view.payloadRange].map(ULaw.decode) }
        let expected = answer.map { ULaw.decode(ULaw.encode($0)) }
        let paused = Int(pause.heardSamples), fade = 64
        #expect(Array(heard[0..<(paused - fade)]) == Array(expected[0..<(paused - fade)]))
        // The first frame with sound after the pause is the resumed one; past its fade-in, the
        // rest of the answer, sample for sample.
        guard let resumed = stride(from: paused / 160 + 1, to: heard.count / 160, by: 1).first(where: { f in heard[(f * 160)..<(f * 160 + 160)].contains { $0 != 0 } }) else {
            Issue.record("the answer never resumed")
            return
        }
        #expect(resumed * 160 - paused >= 160, "a pause of at least a frame")
        let rest = answer.count - paused - fade
        #expect(Array(heard[(resumed * 160 + fade)..<(resumed * 160 + fade + rest)]) == Array(expected[(paused + fade)...]))
    }

    /// Caller packets (across sequence and timestamp wrap) reach the agent side intact; the
    /// agent's audio comes back as packets with our SSRC, +1 sequence, +160 timestamp, the
    /// marker on the first.
    @Test func audioFlowsBothWays() throws {
        let call = try RTPCall(bargeIn: false)  // the caller talks throughout
        let agentAudio = (0..<8000).map { Int16(6000 * sin(Double($0) * 0.2)) }
        _ = try agentAudio.withUnsafeBytes { try call.session.agent.writeDownlink(item: 1, $0) }
        for k in 0..<100 {
            call.receive(audioPacket(k))
            try call.tick()
        }
        let uplink = call.uplink()
        let expected = (0..<160 * 90).map { ULaw.decode(ULaw.encode(tone($0))) }
        let start = try #require(uplink.firstIndex { $0 != 0 }, "caller audio reached the agent side") / 160 * 160
        // After the first frame's fade-in, the caller's audio arrives exactly.
        #expect(zip(uplink[(start + 160)..<(start + 160 * 80)], expected[160..<(160 * 80)]).filter { $0 != $1 }.count == 0)

        let headers = try call.sent.map { try RTPPacketView.parse($0).header }
        #expect(Set(headers.map(\.ssrc)) == [call.endpoint.ssrc])
        #expect(headers.map(\.marker) == [true] + [Bool](repeating: false, count: 99))
        for (a, b) in zip(headers, headers.dropFirst()) {
            #expect(b.sequenceNumber == a.sequenceNumber &+ 1 && b.timestamp == a.timestamp &+ 160)
        }
        let heard = call.sent.flatMap { $0.dropFirst(12).map(ULaw.decode) }
        let want = agentAudio.map { ULaw.decode(ULaw.encode($0)) }
        #expect(zip(heard.prefix(8000), want).filter { $0 != $1 }.count == 0)
        let stats = call.endpoint.statistics
        #expect(stats.packetsReceived == 100 && stats.packetsSent == 100 && stats.cumulativeLost == 0)
    }

    /// A SIP re-INVITE moves a μ-law call to A-law: from the change on, A-law packets (PT 8) are
    /// taken and decoded as A-law, μ-law ones still in flight as μ-law, any other type refused
    /// and counted, and what we send is PT 8 whose every code is the session's μ-law code
    /// transcoded; the sequence and timestamps run on.
    @Test func aWireCodecChangeTranscodesBothWays() throws {
        let call = try RTPCall(bargeIn: false)
        // Not periodic, so that 8 samples find their place in it.
        var generator = SystemRandomNumberGenerator()
        let agentAudio = (0..<8000).map { _ in Int16.random(in: -8000...8000, using: &generator) }
        _ = try agentAudio.withUnsafeBytes { try call.session.agent.writeDownlink(item: 1, $0) }
        for k in 0..<20 {
            call.receive(audioPacket(k))
            try call.tick()
        }
        _ = call.uplink()
        try call.endpoint.changeWireCodec(to: .alaw).get()
        #expect(call.receive(audioPacket(20)) == .audio)
        #expect(call.receive(audioPacket(20, payloadType: 18)) == .dropped(.unsupportedCodec))
        for k in 21..<100 {
            #expect(call.receive(audioPacket(k, payloadType: 8, encode: ALaw.encode)) == .audio)
            try call.tick()
        }
        #expect(call.endpoint.statistics.unknownPayloadType == 1)

        // Caller → agent: the A-law tone decoded as A-law (a μ-law decoding of A-law codes is
        // noise), then μ-law-coded for the session. Compared from 10 frames in, past what the
        // jitter buffer still held of the μ-law packets.
        let uplink = call.uplink()
        let expected = (0..<160 * 100).map { ULaw.decode(ULaw.encode(ALaw.decode(ALaw.encode(tone($0))))) }
        let start = try #require(uplink.firstIndex { abs(Int($0)) > 3000 }) + 160 * 10
        let window = Array(uplink[start..<(start + 8)])
        let offset = try #require((0..<(160 * 90)).first { Array(expected[$0..<($0 + 8)]) == window }, "the A-law tone in the uplink")
        let matching = zip(uplink[start...].prefix(160 * 40), expected[offset...]).filter { $0 == $1 }.count
        #expect(matching == 160 * 40, "\(matching) of \(160 * 40) samples as sent")

        // Agent → caller: PT 0 before the change, PT 8 after, each A-law code the transcoding of
        // the μ-law code the session made.
        let headers = try call.sent.map { try RTPPacketView.parse($0).header }
        #expect(headers.map(\.payloadType) == [UInt8](repeating: 0, count: 20) + [UInt8](repeating: 8, count: 79))
        for (a, b) in zip(headers, headers.dropFirst()) {
            #expect(b.sequenceNumber == a.sequenceNumber &+ 1 && b.timestamp == a.timestamp &+ 160)
        }
        let heard = call.sent.dropFirst(20).flatMap { $0.dropFirst(12).map(ALaw.decode) }
        let want = agentAudio.map { ALaw.decode(ALaw.encode(ULaw.decode(ULaw.encode($0)))) }
        let from = try #require(heard.firstIndex { abs(Int($0)) > 3000 })
        let at = try #require((0..<(want.count - 8)).first { Array(want[$0..<($0 + 8)]) == Array(heard[from..<(from + 8)]) }, "the answer in A-law")
        let compared = Array(zip(heard[from...], want[at...]))
        let same = compared.filter { $0 == $1 }.count
        #expect(at == 20 * 160 + from && compared.count >= 160 * 29 && same == compared.count, "\(same) of \(compared.count) samples as the session made them, from \(at)")
    }

    /// Packets of any length are re-framed by timestamp: ptime 10, 20, 30, 40 and 60 ms, and
    /// ffmpeg's default packetisation (payloads filling its MTU, 1,460 then 588 bytes). Each packet
    /// leaves the sender when its last sample is ready and arrives 5 ms later; the caller's
    /// audio reaches the agent side bit-exact after the first frame's fade-in, nothing concealed.
    @Test(arguments: [[80], [160], [240], [320], [480], [1460, 588]])
    func anyPacketLengthIsReframedBitExact(pattern: [Int]) throws {
        let call = try RTPCall(bargeIn: false)
        var random = SplitMix64(seed: UInt64(pattern[0]))
        let codes = (0..<8000 * 4).map { _ in UInt8(truncatingIfNeeded: random.next()) | 0x10 }  // no μ-law zero
        var packets: [(arrival: UInt64, bytes: [UInt8])] = []
        var start = 0, k = 0
        while start < codes.count {
            let length = min(pattern[k % pattern.count], codes.count - start)
            let header = RTPHeader(marker: k == 0, payloadType: 0, sequenceNumber: UInt16(truncatingIfNeeded: 40_000 + k), timestamp: UInt32(truncatingIfNeeded: 7_000 + start), ssrc: 0x1234)
            packets.append((UInt64(start + length) * 125 + 5_000, RTPPacket(header: header, payload: Array(codes[start..<(start + length)])).serialized()))
            start += length
            k += 1
        }
        var next = 0
        var uplink: [Int16] = []
        while call.now < UInt64(codes.count) * 125 + 400_000 {
            while next < packets.count, packets[next].arrival <= call.now {
                #expect(call.receive(packets[next].bytes, lateBy: 0) == .audio)
                next += 1
            }
            try call.tick()
            uplink += call.uplink()
        }
        let expected = codes.map(ULaw.decode)
        let first = try #require(uplink.firstIndex { $0 != 0 })
        // The first frame fades in; from the second on, every sample is the caller's.
        let offset = first / 160 * 160
        let compared = Array(uplink[(offset + 160)...].prefix(expected.count - 160))
        #expect(compared.count == expected.count - 160)
        #expect(zip(compared, expected[160...]).filter { $0 != $1 }.count == 0)
        let stats = call.endpoint.statistics
        #expect(stats.packetsReceived == UInt64(packets.count) && stats.malformed == 0)
        // Concealment only after the stream's end (three fading frames, then silence).
        #expect(stats.jitterBuffer.late == 0 && stats.jitterBuffer.tooEarly == 0 && stats.jitterBuffer.framesConcealed == 3,
                "\(stats.jitterBuffer)")
        #expect(stats.jitterBuffer.framesPlayed == UInt64(codes.count / 160))
    }

    /// ffmpeg 5.1's default packetisation as it really sends it (measured here with `-re` from a
    /// WAV): each 4,096-sample input frame at its start time, at once, as packets of 1,460, 1,460
    /// and 1,176 samples — the last 365 ms ahead of its time. To the jitter buffer that is 365 ms
    /// of spread between packets, so it plays without loss once the maximum delay covers it
    /// (500 ms here; with the default 200 the head of each burst would be late): every packet
    /// taken, none late, the caller's audio bit-exact.
    @Test func aSenderRunningAheadInBurstsPlaysWithAMaximumThatCoversIt() throws {
        let call = try RTPCall(bargeIn: false) { $0.jitterBuffer.maximumDelayMilliseconds = 500 }
        var random = SplitMix64(seed: 4096)
        let codes = (0..<4096 * 6).map { _ in UInt8(truncatingIfNeeded: random.next()) | 0x10 }
        var packets: [(arrival: UInt64, bytes: [UInt8])] = []
        var sequence: UInt16 = 3_702
        for frame in stride(from: 0, to: codes.count, by: 4096) {
            var start = frame
            for length in [1460, 1460, 1176] {
                let header = RTPHeader(payloadType: 0, sequenceNumber: sequence, timestamp: UInt32(start), ssrc: 0x77)
                packets.append((UInt64(frame) * 125 + 2_000 + UInt64(start - frame) / 100, RTPPacket(header: header, payload: Array(codes[start..<(start + length)])).serialized()))
                start += length
                sequence &+= 1
            }
        }
        var next = 0
        var uplink: [Int16] = []
        while call.now < UInt64(codes.count) * 125 + 600_000 {
            while next < packets.count, packets[next].arrival <= call.now {
                #expect(call.receive(packets[next].bytes) == .audio)
                next += 1
            }
            try call.tick()
            uplink += call.uplink()
        }
        let expected = codes.map(ULaw.decode)
        let offset = try #require(uplink.firstIndex { $0 != 0 }) / 160 * 160
        let compared = Array(uplink[(offset + 160)...].prefix(expected.count - 160))
        #expect(compared.count == expected.count - 160)
        #expect(zip(compared, expected[160...]).filter { $0 != $1 }.count == 0)
        let jitter = call.endpoint.statistics.jitterBuffer
        #expect(jitter.late == 0 && jitter.tooEarly == 0 && jitter.framesConcealed == 3, "\(jitter)")
    }

    /// RFC 4733 events as Asterisk sends them (updates, the end three times) become one DTMF
    /// event per key press; and a digit we send goes out as telephone-events.
    @Test func telephoneEventsAreDigitsBothWays() throws {
        let call = try RTPCall()
        var seq: UInt16 = 100
        for (press, digit) in [UInt8(1), 11, 1].enumerated() {
            var sender = TelephoneEventSender()
            sender.start(event: digit, timestamp: UInt32(press * 8000), duration: 800)
            while let packet = sender.next() {
                var payload = [UInt8](repeating: 0, count: 4)
                payload.withUnsafeMutableBytes { _ = packet.event.write(to: $0) }
                let bytes = RTPPacket(header: RTPHeader(marker: packet.marker, payloadType: 101, sequenceNumber: seq, timestamp: packet.timestamp, ssrc: 5), payload: payload).serialized()
                #expect(call.receive(bytes) == .telephoneEvent)
                call.receive(bytes)  // every packet twice: duplicates on the wire
                seq &+= 1
                try call.tick()
            }
        }
        #expect(call.events().filter { $0.kind == .dtmf }.map(\.digit) == Array("1#1".utf8))
        #expect(call.endpoint.statistics.digitsReceived == 3)

        try call.endpoint.sendDigit(UInt8(ascii: "7"), durationMilliseconds: 60).get()
        call.sent.removeAll()
        for _ in 0..<8 { try call.tick() }
        let events = try call.sent.map { try RTPPacketView.parse($0) }.filter { $0.header.payloadType == 101 }
        #expect(events.count == 5)  // 20, 40 ms updates, the end at 60 ms three times
        let payloads = call.sent.filter { (try? RTPPacketView.parse($0).header.payloadType) == 101 }.map { $0.withUnsafeBytes { TelephoneEvent.parse(UnsafeRawBufferPointer(rebasing: $0[12...]))! } }
        #expect(payloads.map(\.event) == [7, 7, 7, 7, 7] && payloads.map(\.isEnd) == [false, false, true, true, true])
        #expect(Set(events.map(\.header.timestamp)).count == 1 && events.first?.header.marker == true)
        #expect(throws: AudioBridgeError.invalidArgument) { try call.endpoint.sendDigit(UInt8(ascii: "x")).get() }
    }

    /// Garbage, a wrong payload type, truncated packets and comfort noise are counted and
    /// dropped; audio before and after flows.
    @Test func badPacketsAreCountedAndTheCallGoesOn() throws {
        let call = try RTPCall(codec: .alaw)
        for k in 0..<50 {
            call.receive(audioPacket(k, payloadType: 8, encode: ALaw.encode))
            if k == 10 { #expect(call.receive([1, 2, 3]) == .dropped(.protocolViolation)) }
            if k == 11 { #expect(call.receive(audioPacket(k, payloadType: 0)) == .dropped(.unsupportedCodec)) }
            if k == 12 { #expect(call.receive(Array(audioPacket(k, payloadType: 8).prefix(12))) == .dropped(.protocolViolation)) }
            if k == 13 { #expect(call.receive(RTPPacket(header: RTPHeader(payloadType: 13, sequenceNumber: 1, timestamp: 0, ssrc: 0xABCD), payload: [40]).serialized()) == .comfortNoise) }
            if k == 14 { #expect(call.receive([UInt8](repeating: 0x80, count: 1600)) == .dropped(.protocolViolation)) }
            try call.tick()
        }
        let stats = call.endpoint.statistics
        #expect(stats.malformed == 3 && stats.unknownPayloadType == 1 && stats.comfortNoise == 1)
        #expect(stats.jitterBuffer.framesConcealed == 0)
        #expect(call.uplink().filter { $0 != 0 }.count > 160 * 40)
        #expect(throws: AudioBridgeError.unsupportedCodec) {
            var configuration = SessionConfiguration()
            configuration.phoneCodec = .ulaw
            var rtp = RTPEndpointConfiguration()
            rtp.payloadType = 8
            _ = try RTPEndpoint(session: try Session(configuration: configuration), configuration: rtp)
        }
    }

    /// Two endpoints back to back over SRTP: each one's packets are the other's audio; a
    /// tampered or replayed packet is refused and counted without disturbing the stream.
    @Test func srtpEndpointsTalkToEachOther() throws {
        let ours = try #require(SRTPMasterKey(keyAndSalt: (0..<30).map { UInt8($0) }))
        let theirs = try #require(SRTPMasterKey(keyAndSalt: (0..<30).map { UInt8(200 - $0) }))
        let a = try RTPCall(codec: .slin16) { $0.srtpSendKey = ours; $0.srtpReceiveKey = theirs; $0.srtpProfile = .aes128CmHmacSha1_32 }
        let b = try RTPCall(codec: .slin16) { $0.srtpSendKey = theirs; $0.srtpReceiveKey = ours; $0.srtpProfile = .aes128CmHmacSha1_32 }
        let agentAudio = (0..<4000).map { Int16(7000 * sin(Double($0) * 0.1)) }
        _ = try agentAudio.withUnsafeBytes { try a.session.agent.writeDownlink(item: 1, $0) }
        for k in 0..<60 {
            try a.tick()
            let packet = a.sent.last!
            #expect(packet.count == 12 + 320 + 4)
            if k == 30 {
                var tampered = packet
                tampered[40] ^= 1
                #expect(b.receive(tampered) == .dropped(.protocolViolation))
            }
            #expect(b.receive(packet) == .audio)
            if k == 30 { #expect(b.receive(packet) == .dropped(.protocolViolation)) }  // a replay
            try b.tick()
        }
        let received = b.uplink()
        let start = try #require(received.firstIndex { $0 != 0 }) / 160 * 160
        #expect(zip(received[(start + 160)..<(start + 3000)], agentAudio[160..<3000]).filter { $0 != $1 }.count == 0)
        let stats = b.endpoint.statistics
        #expect(stats.srtpAuthenticationFailures == 1 && stats.srtpReplays == 1, "\(stats)")
        #expect(stats.packetsReceived == 60)
    }
}

/// xorshift64*: a repeatable stream of random inputs.
private struct Xorshift {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// Whatever arrives on the port — random bytes, mutated RTP, mutated SRTP, random timestamps and
/// SSRCs — never traps, and every datagram is accounted for: taken or counted as refused.
/// Heavy on CPU: on the release build (make test-release), not among the debug tests.
struct RTPEndpointFuzzTests {
    @Test(arguments: [false, true])
    func randomAndMutatedDatagramsAreAllAccountedFor(srtp: Bool) throws {
        let key = try #require(SRTPMasterKey(keyAndSalt: [UInt8](repeating: 4, count: 30)))
        let call = try RTPCall { if srtp { $0.srtpSendKey = key; $0.srtpReceiveKey = key } }
        let peer = try #require(SRTPContext(profile: .aes128CmHmacSha1_80, masterKey: key))
        var random = Xorshift(seed: srtp ? 11 : 12)
        var taken = 0, refused = 0, rtcp = 0
        // With SRTP the sequence numbers are each stream's own, reordered by up to ±4 and some
        // repeated (replays): a sender jumping at random would move the receiver's rollover
        // estimate away from its own, after which nothing authenticates (RFC 3711 §3.3.1).
        var sequences: [UInt16] = [0, 0, 0]
        for i in 0..<100_000 {
            var bytes: [UInt8]
            switch random.next() % 4 {
            case 0: bytes = (0..<Int(random.next() % 300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            default:
                let ssrc = Int(random.next() % 3)
                sequences[ssrc] &+= 1
                let sequence = srtp ? sequences[ssrc] &+ UInt16(random.next() % 9) &- 4 : UInt16(truncatingIfNeeded: random.next())
                let header = RTPHeader(marker: random.next() % 9 == 0, payloadType: [0, 0, 0, 101, 13, 8, UInt8(random.next() % 128)][Int(random.next() % 7)],
                                       sequenceNumber: sequence, timestamp: UInt32(truncatingIfNeeded: random.next()),
                                       ssrc: UInt32(ssrc))
                bytes = RTPPacket(header: header, payload: (0..<Int(random.next() % 400)).map { _ in UInt8(truncatingIfNeeded: random.next()) }).serialized()
                if srtp, random.next() % 4 != 0 {
                    bytes += [UInt8](repeating: 0, count: 10)
                    let length = bytes.count - 10
                    _ = bytes.withUnsafeMutableBytes { peer.protect($0, length: length) }
                }
                if random.next() % 3 == 0 { bytes[Int(random.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: random.next() | 1) }
            }
            switch call.receive(bytes) {
            case .dropped: refused += 1
            case .rtcp: rtcp += 1
            default: taken += 1
            }
            if i % 5 == 0 { try call.tick() }
        }
        let s = call.endpoint.statistics
        #expect(taken + refused + rtcp == 100_000)
        #expect(s.packetsReceived == UInt64(taken))
        #expect(s.rtcpPackets == UInt64(rtcp) && rtcp > 0, "RTCP's second byte (192–223) came up: \(rtcp)")
        #expect(s.malformed + s.unknownPayloadType + s.srtpAuthenticationFailures + s.srtpReplays == UInt64(refused))
        #expect(taken > 10_000 && refused > 10_000, "both paths ran: \(taken) taken, \(refused) refused")
    }
}

/// The realtime contract for the RTP path: 100,000 frames of SRTP packets in (new packets
/// taken, one in 7 lost, a replay of an old one every 10th frame refused, DTMF) and out, with no
/// heap call and no lock.
struct RTPEndpointAllocationTests {
    @Test func steadyStateRTPTrafficAllocatesNothing() throws {
        #expect(ab_counting_is_interposed() == 1)
        let key = try #require(SRTPMasterKey(keyAndSalt: [UInt8](repeating: 9, count: 30)))
        let call = try RTPCall { $0.srtpSendKey = key; $0.srtpReceiveKey = key }
        let peer = try #require(SRTPContext(profile: .aes128CmHmacSha1_80, masterKey: key))
        let warmUp = 200, frames = 100_000, stride = 256
        let count = warmUp + frames
        let packets = UnsafeMutableRawBufferPointer.allocate(byteCount: stride * count, alignment: 16)
        var lengths = [Int](repeating: 0, count: count)
        // Precomputed protected packets, one per frame (a peer's work, not counted): audio, every
        // 50th a DTMF event; sequence numbers wrap past 65,535 (the rollover counter moves on).
        for k in 0..<count {
            var plain = k % 50 == 49
                ? RTPPacket(header: RTPHeader(payloadType: 101, sequenceNumber: UInt16(truncatingIfNeeded: k), timestamp: UInt32(k * 160), ssrc: 3),
                            payload: [5, 0x8A, 0, 160]).serialized()
                : audioPacket(k, ssrc: 3)
            plain[2] = UInt8(truncatingIfNeeded: k >> 8); plain[3] = UInt8(truncatingIfNeeded: k)
            let slot = UnsafeMutableRawBufferPointer(rebasing: packets[(k * stride)..<((k + 1) * stride)])
            plain.withUnsafeBytes { slot.copyMemory(from: $0) }
            lengths[k] = try peer.protect(slot, length: plain.count).get()
        }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1600, alignment: 16)
        defer { packets.deallocate(); out.deallocate() }
        var now: UInt64 = 0
        var sentBytes = 0
        func packet(_ k: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: packets[(k * stride)..<(k * stride + lengths[k])]) }
        func frame(_ i: Int) throws(AudioBridgeError) {
            if i % 7 != 0 { _ = call.endpoint.receive(packet(i), arrivalMicroseconds: now) }
            if i % 10 == 5, i > 100 { _ = call.endpoint.receive(packet(i - 100), arrivalMicroseconds: now) }  // a replay
            sentBytes += try call.endpoint.tick(nowMicroseconds: now, into: out).get()
            now += 20_000
            while call.session.agent.readUplink(into: out) > 0 {}
            while call.session.pollEvent() != nil {}
        }
        for i in 0..<warmUp { try frame(i) }
        let before = call.endpoint.statistics
        ab_counting_start()
        for i in warmUp..<count { try frame(i) }
        let counts = ab_counting_stop()
        #expect(counts.allocations == 0 && counts.frees == 0 && counts.mutex_locks == 0)
        let stats = call.endpoint.statistics
        let taken = stats.packetsReceived - before.packetsReceived
        let replays = stats.srtpReplays - before.srtpReplays
        #expect(taken > 85_000, "new packets taken in the counted loop: \(taken)")
        #expect(replays > 9_000, "replays refused in the counted loop: \(replays)")
        #expect(stats.digitsReceived >= 1_000 && sentBytes > frames * 170)
    }
}
