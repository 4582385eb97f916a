// SPDX-License-Identifier: MIT
// The FreeSWITCH and chan_websocket listener end to end on loopback, with a WebSocket client
// playing the phone system's part: the echo comes back in the call's format, items are marked
// and their confirmation reported, flow control holds our audio without losing it, digits
// arrive, bad messages are counted and survived, the limit and the credentials refuse before
// the upgrade, and every counter lands under the transport's label.
@testable import AudioBridgeServer
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// The phone system's side of one media WebSocket: what it receives, with arrival times.
final class MediaPeer: WebSocketClientDelegate, @unchecked Sendable {
    enum Received: Equatable {
        case text(String)
        case binary(Int)
    }

    private let state = NIOLockedValueBox<(opened: Bool, closed: Bool, received: [(Double, Received)], audio: [UInt8])>((false, false, [], []))
    private let started = Date()
    /// Answers each chan_websocket MARK_MEDIA or jambonz mark as the phone system does once the
    /// audio before it has played.
    var confirmMarks = true
    var client: WebSocketClient?
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    static func connect(port: Int, path: String = "/media", headers: [(String, String)] = [], group: any EventLoopGroup) async throws -> MediaPeer {
        let loop = group.next()
        let peer = MediaPeer(eventLoop: loop)
        try await loop.submit {
            peer.client = WebSocketClient.connect(url: ServerURL.webSocket("ws://127.0.0.1:\(port)\(path)")!, headers: headers, additionalTrustRootsPEM: nil,
                                                  maximumMessageBytes: 1 << 20, eventLoop: loop, timeout: .seconds(5), delegate: peer)
        }.get()
        for _ in 0..<300 where !peer.isOpen && !peer.isClosed { try await Task.sleep(for: .milliseconds(10)) }
        return peer
    }

    var isOpen: Bool { state.withLockedValue { $0.opened } }
    var isClosed: Bool { state.withLockedValue { $0.closed } }
    var received: [(Double, Received)] { state.withLockedValue { $0.received } }
    var texts: [String] { received.compactMap { if case .text(let t) = $0.1 { t } else { nil } } }
    var audio: [UInt8] { state.withLockedValue { $0.audio } }

    func send(text: String) { eventLoop.execute { self.client?.send(Array(text.utf8)) } }
    func send(binary: [UInt8]) { eventLoop.execute { self.client?.send(binary: binary) } }
    func close() { eventLoop.execute { self.client?.close() } }

    func webSocketOpened() { state.withLockedValue { $0.opened = true } }

    func webSocketReceived(text: [UInt8]) {
        let message = String(decoding: text, as: UTF8.self)
        let now = Date().timeIntervalSince(started)
        state.withLockedValue { $0.received.append((now, .text(message))) }
        guard confirmMarks else { return }
        if message.hasPrefix("MARK_MEDIA ") {
            // Plain-text commands carry the id alone after the command's name.
            client?.send(Array("MEDIA_MARK_PROCESSED correlation_id:\(message.dropFirst("MARK_MEDIA ".count))".utf8))
        } else if message.contains(#""type":"mark""#), let range = message.range(of: #""name":""#) {
            let name = message[range.upperBound...].prefix { $0 != "\"" }
            client?.send(Array(#"{"type":"mark","data":{"name":"\#(name)","event":"playout"}}"#.utf8))
        }
    }

    func webSocketReceived(binary: ByteBuffer) {
        let now = Date().timeIntervalSince(started)
        state.withLockedValue {
            $0.received.append((now, .binary(binary.readableBytes)))
            $0.audio += binary.readableBytesView
        }
    }

    func webSocketProtocolError(_ error: Error) {}
    func webSocketClosed(cause: String) { state.withLockedValue { $0.closed = true } }
}

/// A media WebSocket server on an ephemeral port, every session event recorded.
final class MediaTestServer: Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let server: MediaWebSocketServer
    let port: Int
    private let recorded = NIOLockedValueBox<[SessionEvent]>([])

    init(role: MediaWebSocketServerConfiguration.Role, agent: String = "echo", maximumCalls: Int? = nil,
         credential: MediaWebSocketCredential? = nil, maximumMessageBytes: Int = 65_536) async throws {
        var configuration = MediaWebSocketServerConfiguration()
        configuration.role = role
        configuration.port = 0
        configuration.call.agent = agent
        configuration.call.session.agentFormat = .pcm16(sampleRate: 8000)
        configuration.credential = credential
        configuration.maximumMessageBytes = maximumMessageBytes
        let recorded = recorded
        server = try MediaWebSocketServer(configuration: configuration, group: group,
                                          services: BridgeServices(admission: CallAdmission(maximumCalls: maximumCalls))) { event in
            recorded.withLockedValue { $0.append(event) }
        }
        port = try await server.start().port!
    }

    func events(_ kind: SessionEvent.Kind) -> [SessionEvent] { recorded.withLockedValue { $0.filter { $0.kind == kind } } }
    var counters: TransportCounters { server.snapshot }

    func stop() async throws {
        await server.shutdown()
        try await group.shutdownGracefully()
    }

    /// Waits (bounded) until `condition` holds.
    func waitFor(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }
}

/// Sends `frames` paced 20 ms apart; `message(i)` is frame i (nil: nothing that tick).
func pace(_ frames: Int, _ message: (Int) -> Void) async throws {
    let start = ContinuousClock.now
    for i in 0..<frames {
        message(i)
        try await Task.sleep(until: start + .milliseconds(20 * (i + 1)), clock: .continuous)
    }
}

@Suite(.serialized)
struct MediaWebSocketServerTests {
    static let mediaStart = "MEDIA_START connection_id:c1 channel:WebSocket/c1/0x1 channel_id:1761.1 format:ulaw optimal_frame_size:160 ptime:20"

    @Test func chanWebSocketEchoesMarksHoldsAndTakesDigits() async throws {
        let server = try await MediaTestServer(role: .asterisk)
        let peer = try await MediaPeer.connect(port: server.port, group: server.group)
        #expect(peer.isOpen)
        let speech = talk(seconds: 1).map { ULaw.encode($0) }
        try await pace(200) { i in
            if i == 0 { peer.send(text: Self.mediaStart) }
            peer.send(binary: i < 50 ? Array(speech[i * 160..<(i + 1) * 160]) : [UInt8](repeating: 0xFF, count: 160))
            // Hold our audio for 400 ms in the middle of the echo, then let it go.
            if i == 110 { peer.send(text: "MEDIA_XOFF") }
            if i == 130 { peer.send(text: "MEDIA_XON") }
            if i == 150 { peer.send(text: "DTMF_END digit:5 channel_id:1761.1") }
            if i == 160 { peer.send(text: "NOT_A_COMMAND {{{") }
        }
        try await server.waitFor { server.counters.marksConfirmed >= 1 }
        let texts = peer.texts
        #expect(texts.first == "ANSWER")
        #expect(texts.contains("MARK_MEDIA item-1"))
        // The echo: the caller's turn back as 160-byte μ-law messages, the caller's own samples
        // (compared decoded: μ-law's two zeros, 0x7F and 0xFF, come back as one), all of it
        // despite the hold (the held ticks send nothing; the audio waits).
        let frames = peer.received.filter { if case .binary(160) = $0.1 { true } else { false } }
        #expect(frames.count >= 50, "echo frames: \(frames.count)")
        #expect(frames.count == server.counters.framesOut, "every frame sent arrived")
        let sentFrames = Set((0..<50).map { speech[$0 * 160..<($0 + 1) * 160].map(ULaw.decode) })
        let audio = peer.audio.map(ULaw.decode)
        let echoed = stride(from: 0, to: audio.count - 159, by: 160).filter { sentFrames.contains(Array(audio[$0..<($0 + 160)])) }.count
        #expect(echoed >= 48, "caller frames echoed byte for byte: \(echoed)")
        #expect(server.counters[.heldTicks] >= 1)
        #expect(server.events(.playoutFinished).map(\.item) == [1], "the item is finished when Asterisk confirms its mark")
        #expect(server.events(.dtmf).map(\.digit) == [UInt8(ascii: "5")])
        let counters = server.counters
        #expect(counters.totalCalls == 1 && counters.framesIn >= 195)
        #expect(counters.marksSent == 1 && counters.marksConfirmed == 1 && counters.dtmf == 1)
        #expect(counters.ignoredMessages + counters.protocolErrors >= 1, "the unknown command was counted")
        let text = server.server.services.metrics.prometheusText()
        #expect(text.contains(#"audiobridge_calls_total{transport="chan_websocket"} 1"#))
        peer.close()
        try await server.waitFor { server.counters.activeCalls == 0 }
        #expect(server.counters.activeCalls == 0)
        try await server.stop()
    }

    @Test func chanWebSocketBargeInFlushesAsterisk() async throws {
        let server = try await MediaTestServer(role: .asterisk)
        let peer = try await MediaPeer.connect(port: server.port, group: server.group)
        // 2 s of talk, 1.5 s of quiet (the turn ends, the echo starts), 1 s of louder talk over it.
        let caller = talk(seconds: 2) + [Int16](repeating: 0, count: 12_000) + talk(seconds: 1, level: 16_000, seed: 1)
        let codes = caller.map { ULaw.encode($0) }
        try await pace(260) { i in
            if i == 0 { peer.send(text: Self.mediaStart) }
            peer.send(binary: (i + 1) * 160 <= codes.count ? Array(codes[i * 160..<(i + 1) * 160]) : [UInt8](repeating: 0xFF, count: 160))
        }
        try await server.waitFor { !server.events(.bargeIn).isEmpty }
        #expect(peer.texts.contains("FLUSH_MEDIA"))
        #expect(server.counters.bargeIns == 1 && server.counters.flushes == 1)
        let cut = try #require(server.events(.bargeIn).first)
        #expect(cut.item == 1 && cut.heardSamples > 0)
        // Nothing of the item after the flush, and its mark never sent (Asterisk dropped the queue).
        let flushAt = try #require(peer.received.first { $0.1 == .text("FLUSH_MEDIA") }?.0)
        #expect(peer.received.filter { $0.0 > flushAt + 0.05 && $0.1 == .binary(160) }.isEmpty)
        #expect(!peer.texts.contains("MARK_MEDIA item-1"))
        try await server.stop()
    }

    @Test func freeSWITCHJambonzAt16kHzEchoesAndMarks() async throws {
        let server = try await MediaTestServer(role: .freeSWITCH)
        let peer = try await MediaPeer.connect(port: server.port, path: "/fork", headers: [("Sec-WebSocket-Protocol", "audio.jambonz.org")], group: server.group)
        #expect(peer.isOpen)
        let speech = talk(seconds: 1, rate: 16_000)
        try await pace(150) { i in
            if i == 0 { peer.send(text: #"{"callSid":"fs-1","sampleRate":16000,"mixType":"mono"}"#) }
            let samples = i < 50 ? Array(speech[i * 320..<(i + 1) * 320]) : [Int16](repeating: 0, count: 320)
            peer.send(binary: samples.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] })
            if i == 120 { peer.send(text: #"{"type":"dtmf","digit":"7"}"#) }
        }
        try await server.waitFor { server.counters.marksConfirmed >= 1 }
        let frames = peer.received.filter { if case .binary = $0.1 { true } else { false } }
        // 16 kHz L16 back: 640 bytes per 20 ms (±1 sample while the resampler settles), the turn's length.
        let detector = SpeechDetectorSettings()
        let turnFrames = 50 + (detector.endOfTurnMilliseconds + detector.hangoverMilliseconds) / 20
        #expect(frames.count >= 50 && frames.count <= turnFrames + 2, "echo frames: \(frames.count), turn \(turnFrames)")
        #expect(frames.count == server.counters.framesOut, "every frame sent arrived")
        #expect(frames.allSatisfy { if case .binary(let n) = $0.1 { abs(n - 640) <= 4 } else { false } })
        #expect(peer.texts.contains { $0.contains(#""type":"mark""#) && $0.contains("item-1") })
        #expect(server.events(.playoutFinished).map(\.item) == [1])
        #expect(server.events(.dtmf).map(\.digit) == [UInt8(ascii: "7")])
        let counters = server.counters
        #expect(counters.totalCalls == 1 && counters.framesIn >= 145 && counters.marksConfirmed == 1)
        #expect(server.server.services.metrics.prometheusText().contains(#"audiobridge_frames_in_total{transport="freeswitch"} \#(counters.framesIn)"#))
        try await server.stop()
    }

    @Test func modAudioStreamGetsStreamAudioMessages() async throws {
        let server = try await MediaTestServer(role: .freeSWITCH)
        let peer = try await MediaPeer.connect(port: server.port, path: "/stream", group: server.group)
        let speech = talk(seconds: 1)
        try await pace(120) { i in
            if i == 0 { peer.send(text: #"{"callSid":"fs-2"}"#) }
            let samples = i < 50 ? Array(speech[i * 160..<(i + 1) * 160]) : [Int16](repeating: 0, count: 160)
            peer.send(binary: samples.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] })
        }
        try await server.waitFor { !server.events(.playoutFinished).isEmpty }
        let chunks = peer.texts.filter { $0.contains(#""type":"streamAudio""#) }
        #expect(chunks.count >= 5, "the echo in 200 ms pieces: \(chunks.count)")
        #expect(peer.received.allSatisfy { if case .binary = $0.1 { false } else { true } }, "mod_audio_stream gets no binary audio")
        #expect(server.events(.playoutFinished).map(\.item) == [1], "no marks: the item is finished when it is handed over")
        try await server.stop()
    }

    @Test func badMessagesAreCountedAndTheCallOrConnectionEndsCleanly() async throws {
        let server = try await MediaTestServer(role: .asterisk, maximumMessageBytes: 4096)
        // Audio before MEDIA_START: the call cannot start; closed.
        let early = try await MediaPeer.connect(port: server.port, group: server.group)
        early.send(binary: [UInt8](repeating: 0xFF, count: 160))
        try await server.waitFor { early.isClosed }
        #expect(early.isClosed)
        // A message over the limit: closed (1009).
        let large = try await MediaPeer.connect(port: server.port, group: server.group)
        large.send(text: Self.mediaStart)
        large.send(binary: [UInt8](repeating: 0xFF, count: 5000))
        try await server.waitFor { large.isClosed }
        #expect(large.isClosed)
        #expect(server.counters.protocolErrors >= 2)
        try await server.waitFor { server.counters.activeCalls == 0 }
        #expect(server.counters.activeCalls == 0)
        try await server.stop()
    }

    @Test func pastTheLimitTheUpgradeIsRefused() async throws {
        let server = try await MediaTestServer(role: .asterisk, maximumCalls: 1)
        let first = try await MediaPeer.connect(port: server.port, group: server.group)
        first.send(text: Self.mediaStart)
        try await server.waitFor { server.counters.activeCalls == 1 }
        let second = try await MediaPeer.connect(port: server.port, group: server.group)
        #expect(!second.isOpen, "no WebSocket past --max-calls")
        #expect(server.counters[.refusedAtLimit] == 1)
        first.close()
        try await server.waitFor { server.counters.activeCalls == 0 }
        let third = try await MediaPeer.connect(port: server.port, group: server.group)
        #expect(third.isOpen, "a place came free")
        try await server.stop()
    }

    @Test func credentialsAreCheckedBeforeTheUpgrade() async throws {
        let server = try await MediaTestServer(role: .asterisk, credential: .basic(username: "asterisk", password: "s3cret"))
        let none = try await MediaPeer.connect(port: server.port, group: server.group)
        #expect(!none.isOpen)
        let wrong = try await MediaPeer.connect(port: server.port, headers: [("Authorization", "Basic " + Base64.encode(Array("asterisk:guess".utf8)))], group: server.group)
        #expect(!wrong.isOpen)
        let right = try await MediaPeer.connect(port: server.port, headers: [("Authorization", "Basic " + Base64.encode(Array("asterisk:s3cret".utf8)))], group: server.group)
        #expect(right.isOpen)
        #expect(server.counters[.refusedUnauthorized] == 2)
        try await server.stop()
    }

    @Test func credentialVerdicts() {
        func head(_ uri: String, _ headers: [(String, String)] = []) -> HTTPRequestHead {
            HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: HTTPHeaders(headers))
        }
        let basic = MediaWebSocketCredential.basic(username: "u", password: "p:w")
        #expect(basic.check(head("/")) == .missing)
        #expect(basic.check(head("/", [("Authorization", "Bearer x")])) == .missing)
        #expect(basic.check(head("/", [("Authorization", "Basic " + Base64.encode(Array("u:p:w".utf8)))])) == .accepted)
        #expect(basic.check(head("/", [("Authorization", "basic " + Base64.encode(Array("u:p:w".utf8)))])) == .accepted)
        #expect(basic.check(head("/", [("Authorization", "Basic " + Base64.encode(Array("u:p".utf8)))])) == .wrong)
        let token = MediaWebSocketCredential.token("t0k")
        #expect(token.check(head("/fork")) == .missing)
        #expect(token.check(head("/fork?rate=16000&token=t0k")) == .accepted)
        #expect(token.check(head("/fork?token=t0")) == .wrong)
        #expect(token.check(head("/fork?token=t0kk")) == .wrong)
        #expect(token.check(head("/fork", [("Authorization", "Bearer t0k")])) == .accepted)
        #expect(token.check(head("/fork?token=t0k", [("Authorization", "Bearer nope")])) == .wrong)
    }
}
