// SPDX-License-Identifier: MIT
// The bridge server end to end on loopback, with the Asterisk-like client: echo round trip,
// barge-in, DTMF, hang-ups from both sides, misbehaving peers next to a good call, and 100
// concurrent paced calls.
import AudioBridgeCore
import AudioBridgeProtocols
@testable import AudioBridgeServer
import AudioBridgeSession
import Foundation
import Glibc
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// A server on an ephemeral loopback port, with every session event recorded.
final class TestServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let server: AudioSocketServer
    let port: Int
    private let events = NIOLockedValueBox<[(AudioSocketUUID, SessionEvent)]>([])

    init(agent: String = "echo", threads: Int = 2, idleSeconds: Int64 = 5, recordDirectory: String? = nil,
         realtime: RealtimeAgentConfiguration? = nil, localBargeIn: Bool = true) async throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var configuration = AudioSocketServerConfiguration()
        configuration.call.session.bargeIn.enabled = localBargeIn
        configuration.port = 0
        configuration.call.agent = agent
        configuration.idleTimeoutSeconds = idleSeconds
        configuration.call.recordDirectory = recordDirectory
        configuration.call.realtime = realtime
        let events = events
        server = try AudioSocketServer(configuration: configuration, group: group) { uuid, event in
            events.withLockedValue { $0.append((uuid, event)) }
        }
        port = try await server.start().port!
    }

    func events(_ kind: SessionEvent.Kind, of uuid: AudioSocketUUID) -> [SessionEvent] {
        events.withLockedValue { $0.filter { $0.0 == uuid && $0.1.kind == kind }.map(\.1) }
    }

    func call(_ script: AudioSocketCallScript) async throws -> AudioSocketCallResult {
        try await AudioSocketClient.run(host: "127.0.0.1", port: port, script: script, group: group)
    }

    func stop() async throws {
        await server.shutdown()
        try await group.shutdownGracefully()
    }

    /// Waits (bounded) until no call is active.
    func waitForIdle() async throws {
        for _ in 0..<200 where server.snapshot.activeCalls > 0 { try await Task.sleep(for: .milliseconds(10)) }
    }
}

/// A speech-like caller: a 300–3000 Hz multi-tone with a syllable rhythm.
func talk(seconds: Double, level: Double = 9000, seed: Double = 0, rate: Int = 8000) -> [Int16] {
    (0..<Int(Double(rate) * seconds)).map { n in
        let t = Double(n) / Double(rate)
        let tone = sin(2 * .pi * 310 * t + seed) + 0.7 * sin(2 * .pi * 1130 * t) + 0.5 * sin(2 * .pi * 2470 * t + seed)
        // Syllables: the level falls to nothing between them, as speech does (a caller whose
        // level never dips would soon be taken for steady background noise).
        let syllable = 0.5 + 0.5 * sin(2 * .pi * 4 * t)
        return Int16(level * tone * syllable / 2.2)
    }
}

/// The best normalised correlation of `segment` with `signal` at any lag from `from` on: a
/// coarse search every 4 lags, then every lag around the best one (debug builds are slow).
func bestCorrelation(of segment: [Int16], in signal: [Int16], from: Int) -> Double {
    let received = signal.map(Double.init), segment = segment.map(Double.init)
    func correlation(at lag: Int) -> Double {
        var dot = 0.0, a = 0.0, b = 0.0
        for i in stride(from: 0, to: segment.count, by: 4) { dot += segment[i] * received[lag + i]; a += segment[i] * segment[i]; b += received[lag + i] * received[lag + i] }
        return a > 0 && b > 0 ? dot / (a * b).squareRoot() : 0
    }
    let lastLag = received.count - segment.count
    guard lastLag > from else { return 0 }
    let coarse = stride(from: from, to: lastLag, by: 4).map { ($0, correlation(at: $0)) }.max { $0.1 < $1.1 }?.0 ?? from
    return (max(from, coarse - 4)...min(lastLag - 1, coarse + 4)).map(correlation).max() ?? 0
}

func newUUID() -> AudioSocketUUID { AudioSocketUUID(string: UUID().uuidString)! }

@Suite(.serialized)
struct AudioSocketServerTests {
    @Test func echoRoundTripBringsBackWhatTheCallerSaid() async throws {
        let server = try await TestServer()
        let said = talk(seconds: 1.5)
        let uuid = newUUID()
        let result = try await server.call(AudioSocketCallScript(uuid: uuid, caller: said, totalFrames: 250))
        #expect(result.framesReceived >= 245, "one frame back every 20 ms")
        #expect(!result.hungUpByServer)
        // Find the echo in what came back and compare it with what was said, at the best lag.
        let best = bestCorrelation(of: Array(said[2000..<8000]), in: result.received, from: 9000)
        #expect(best > 0.95, "normalised correlation of the echo with the caller: \(best)")
        #expect(server.events(.playoutFinished, of: uuid).count == 1)
        try await server.waitForIdle()
        #expect(server.server.snapshot.activeCalls == 0)
        #expect(server.server.snapshot.protocolErrors == 0)
        try await server.stop()
    }

    /// Calls at the other slin rates (kinds 0x11–0x18) are resampled to and from the session's
    /// 8 kHz: the echo comes back at the caller's rate, in the caller's kind.
    @Test(arguments: [16000, 44100])
    func callsAtOtherSlinRatesAreResampled(rate: Int) async throws {
        let server = try await TestServer()
        let said = talk(seconds: 1.5, rate: rate)
        let uuid = newUUID()
        let result = try await server.call(AudioSocketCallScript(uuid: uuid, caller: said, totalFrames: 200, sampleRate: rate))
        #expect(result.receivedSampleRates == [rate])
        #expect(result.framesReceived >= 190)
        let perMillisecond = rate / 1000
        let best = bestCorrelation(of: Array(said[(500 * perMillisecond)..<(750 * perMillisecond)]), in: result.received, from: 1125 * perMillisecond)
        #expect(best > 0.9, "normalised correlation of the echo with the caller at \(rate) Hz: \(best)")
        #expect(server.server.snapshot.protocolErrors == 0)
        try await server.stop()
    }

    /// The caller talks over the echo: the server's audio stops within 2 frames of the decision.
    @Test func bargeInStopsAgentAudioWithinTwoFrames() async throws {
        let server = try await TestServer()
        let uuid = newUUID()
        // 2 s of talk, 1.5 s pause (the turn ends, the echo starts), 1 s of louder talk over it, then quiet.
        let caller = talk(seconds: 2) + [Int16](repeating: 0, count: 12000) + talk(seconds: 1, level: 16000, seed: 1)
        let result = try await server.call(AudioSocketCallScript(uuid: uuid, caller: caller, totalFrames: 250))
        let cuts = server.events(.bargeIn, of: uuid)
        #expect(cuts.count >= 1)
        guard let cut = cuts.first else { return try await server.stop() }
        // The first run of agent audio the caller got is the heard position, to within 2 frames.
        guard let first = result.received.firstIndex(where: { $0 != 0 }) else { Issue.record("no echo"); return try await server.stop() }
        var end = first
        var quietRun = 0
        for i in first..<result.received.count {
            if result.received[i] == 0 { quietRun += 1 } else { quietRun = 0; end = i + 1 }
            if quietRun > 400 { break }
        }
        let played = end - first
        #expect(abs(played - Int(cut.heardSamples)) <= 2 * 160, "played \(played) samples, heard position \(cut.heardSamples)")
        #expect(server.server.snapshot.bargeIns >= 1)
        // The cut was a pause first; both are counted, in the snapshot and in /metrics' text.
        #expect(server.server.snapshot.bargeInPauses >= 1)
        let text = server.server.services.metrics.prometheusText()
        let pauses = text.split(separator: "\n").first { $0.hasPrefix(#"audiobridge_barge_ins_total{transport="audiosocket",outcome="paused"} "#) }
        #expect(pauses.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 >= 1 } ?? false, "\(text)")
        try await server.stop()
    }

    /// --record: a stereo WAV per call, caller left, what the caller heard right (the cut included).
    @Test func callsAreRecordedAsStereoWavs() async throws {
        let directory = NSTemporaryDirectory() + "audiobridge-record-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await TestServer(recordDirectory: directory)
        let uuid = newUUID()
        let said = talk(seconds: 1)
        let result = try await server.call(AudioSocketCallScript(uuid: uuid, caller: said, totalFrames: 150))
        let path = directory + "/\(uuid).wav"
        var data: Data?
        for _ in 0..<300 where data == nil {  // written off the event loop, after the call ends
            data = FileManager.default.contents(atPath: path)
            if data == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let bytes = [UInt8](try #require(data))
        #expect(bytes[22] == 2 && bytes[24] == 0x40 && bytes[25] == 0x1F, "stereo, 8000 Hz")
        let frames = (bytes.count - 44) / 4
        func channel(_ c: Int) -> [Int16] {
            (0..<frames).map { Int16(bitPattern: UInt16(bytes[44 + 4 * $0 + 2 * c]) | UInt16(bytes[45 + 4 * $0 + 2 * c]) << 8) }
        }
        let left = channel(0), right = channel(1)
        #expect(abs(frames - 150 * 160) <= 2 * 160)
        #expect(Array(left.prefix(said.count)) == said, "left: the caller, sample for sample")
        #expect(Array(right.prefix(result.received.count)) == result.received, "right: what the caller heard")
        #expect(right.contains { $0 != 0 }, "the echo is in it")
        try await server.stop()
    }

    /// --metrics: the Prometheus endpoint reports what the server did.
    @Test func metricsEndpointServesPrometheusText() async throws {
        let server = try await TestServer()
        _ = try await server.call(AudioSocketCallScript(uuid: newUUID(), caller: [], totalFrames: 30, dtmf: [3: 0x39]))
        try await server.waitForIdle()
        let endpoint = try await MetricsEndpoint.start(host: "127.0.0.1", port: 0, services: server.server.services, group: server.group)
        let port = endpoint.localAddress!.port!
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        let text = String(decoding: data, as: UTF8.self)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(text.contains(#"audiobridge_calls_total{transport="audiosocket"} 1"#))
        #expect(text.contains(#"audiobridge_frames_in_total{transport="audiosocket"} 30"#))
        #expect(text.contains(#"audiobridge_dtmf_total{transport="audiosocket"} 1"#))
        #expect(text.contains(#"audiobridge_active_calls{transport="audiosocket"} 0"#))
        #expect(text.contains(#"audiobridge_frame_processing_seconds_count{transport="audiosocket"}"#))
        #expect(text.contains(#"audiobridge_calls_total{transport="twilio"} 0"#))
        let (_, missing) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/nothing")!)
        #expect((missing as? HTTPURLResponse)?.statusCode == 404)
        try await endpoint.close()
        try await server.stop()
    }

    /// Sessions, call pipelines and agents are freed when their calls end: the live-object counts
    /// rise by one each per call while five calls run and come back to where they were.
    @Test func liveObjectsComeBackWhenCallsEnd() async throws {
        let before = LiveObjectKind.allCases.map(LiveObjects.count)
        let server = try await TestServer()
        let calls = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<5 { group.addTask { _ = try await server.call(AudioSocketCallScript(uuid: newUUID(), caller: talk(seconds: 0.5), totalFrames: 50)) } }
                try await group.waitForAll()
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        let during = LiveObjectKind.allCases.map(LiveObjects.count)
        try await calls.value
        try await server.waitForIdle()
        var after = LiveObjectKind.allCases.map(LiveObjects.count)
        for _ in 0..<100 where after != before {
            try await Task.sleep(for: .milliseconds(20))
            after = LiveObjectKind.allCases.map(LiveObjects.count)
        }
        #expect(zip(during, before).allSatisfy { $0 == $1 + 5 }, "during \(during), before \(before)")
        #expect(after == before, "after \(after), before \(before) (session, call, agent)")
        let endpoint = try await MetricsEndpoint.start(host: "127.0.0.1", port: 0, services: server.server.services, group: server.group)
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(endpoint.localAddress!.port!)/metrics")!)
        #expect(String(decoding: data, as: UTF8.self).contains(#"audiobridge_live_objects{kind="call"} \#(before[LiveObjectKind.call.rawValue])"#))
        try await endpoint.close()
        try await server.stop()
    }

    @Test func dtmfArrivesAsEvents() async throws {
        let server = try await TestServer()
        let uuid = newUUID()
        _ = try await server.call(AudioSocketCallScript(uuid: uuid, caller: [], totalFrames: 40, dtmf: [5: 0x31, 10: 0x23, 15: 0x41]))
        let digits = server.events(.dtmf, of: uuid).map(\.digit)
        #expect(digits == [0x31, 0x23, 0x41])
        try await server.stop()
    }

    @Test func serverShutdownHangsUpTheCaller() async throws {
        let server = try await TestServer()
        async let result = server.call(AudioSocketCallScript(uuid: newUUID(), caller: [], totalFrames: 500))
        try await Task.sleep(for: .milliseconds(300))
        #expect(server.server.snapshot.activeCalls == 1)
        await server.server.shutdown()
        let ended = try await result
        #expect(ended.hungUpByServer)
        #expect(ended.framesReceived < 100)
        try await server.group.shutdownGracefully()
    }

    /// Each kind of misbehaving peer is disconnected with a protocol error while a good call on
    /// the same server keeps getting every frame.
    @Test func misbehavingPeersAreDisconnectedAndOtherCallsKeepRunning() async throws {
        let server = try await TestServer(idleSeconds: 1)
        let good = Task { try await server.call(AudioSocketCallScript(uuid: newUUID(), caller: talk(seconds: 1), totalFrames: 150)) }
        let uuidBytes = try AudioSocketEncoder.encode(.uuid(newUUID()))
        let peers: [(String, [UInt8])] = [
            ("garbage", (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 13) }),
            ("audio before the UUID", [0x10, 0x00, 0x02, 0x00, 0x00]),
            ("unknown kind", uuidBytes + [0x42, 0x00, 0x00]),
            ("zero-length audio", uuidBytes + [0x10, 0x00, 0x00]),
            ("odd-length audio", uuidBytes + [0x10, 0x00, 0xA1]),
            ("oversize audio", uuidBytes + [0x10, 0xFF, 0xF0]),
            ("truncated header, then nothing (slow loris)", uuidBytes + [0x10, 0x01]),
            ("a header whose payload never comes", uuidBytes + [0x10, 0x01, 0x40, 0x00]),
            ("the sample rate changes mid-call", uuidBytes + [0x10, 0x00, 0x02, 0x00, 0x00, 0x12, 0x00, 0x02, 0x00, 0x00]),
        ]
        for (name, bytes) in peers {
            let closed = try await RawPeer.send(bytes, port: server.port, group: server.group, within: .seconds(4))
            #expect(closed, "\(name): the server closed the connection")
        }
        let goodResult = try await good.value
        #expect(goodResult.framesReceived >= 148, "the good call kept its frames: \(goodResult.framesReceived)")
        #expect(!goodResult.hungUpByServer)
        #expect(server.server.snapshot.protocolErrors >= peers.count)
        try await server.waitForIdle()
        #expect(server.server.snapshot.activeCalls == 0)
        try await server.stop()
    }
}

/// A caller whose side stops reading its socket: our frames wait in the connection's small
/// backlog, then the call's ticks are counted as stalls (the agent's audio stays queued in the
/// session), memory stays bounded and no other call notices; when it reads again it gets whole
/// messages only, and the connection's sockets are all gone after the calls end.
@Suite(.serialized)
struct AudioSocketSlowReaderTests {
    @Test func aCallerThatStopsReadingStallsOnlyItsOwnCall() async throws {
        let server = try await TestServer(agent: "tone:440:30000")
        let good = Task { try await server.call(AudioSocketCallScript(uuid: newUUID(), caller: [], totalFrames: 150)) }
        let slow = try SlowReader(port: server.port)
        // Five seconds of caller frames, reading nothing back.
        let frame = try AudioSocketEncoder.encode(.audio(sampleRate: 8000, payload: [UInt8](repeating: 0, count: 320)[...]))
        for _ in 0..<250 {
            try slow.send(frame)
            try await Task.sleep(for: .milliseconds(20))
        }
        let stalls = server.server.snapshot.sendStalls
        #expect(stalls > 20, "the stalled call's ticks were counted: \(stalls)")
        #expect(server.server.snapshot.protocolErrors == 0, "a slow reader is not a protocol error")
        let goodResult = try await good.value
        #expect(goodResult.framesReceived >= 148, "the other call kept its frames: \(goodResult.framesReceived)")
        // What waited comes out as whole messages: the stream still decodes, to a message
        // boundary, through everything that waited and beyond.
        var decoder = AudioSocketDecoder()
        var frames = 0
        try slow.read { bytes in
            decoder.append(bytes)
            while let message = try decoder.next() {
                if case .audio(8000, let payload) = message, payload.count == 320 { frames += 1 }
            }
            return frames >= 200 && decoder.bufferedByteCount == 0
        }
        print("slow reader: \(stalls) stalled ticks; \(frames) whole frames read after it read again")
        slow.close()
        try await server.waitForIdle()
        #expect(server.server.snapshot.activeCalls == 0)
        #expect(try await server.server.connectionCount() == 0, "every connection closed")
        try await server.stop()
    }

    /// A caller that never reads again (a hung process keeps its socket open) is dropped once
    /// its socket has been full for 5 s: counted, its call ended, its connection closed, while
    /// another call goes on untouched.
    @Test func aCallerThatNeverReadsAgainIsDropped() async throws {
        let server = try await TestServer(agent: "tone:440:30000")
        let good = Task { try await server.call(AudioSocketCallScript(uuid: newUUID(), caller: [], totalFrames: 150)) }
        let slow = try SlowReader(port: server.port)
        let frame = try AudioSocketEncoder.encode(.audio(sampleRate: 8000, payload: [UInt8](repeating: 0, count: 320)[...]))
        // Frames every 20 ms for up to 15 s (the socket fills in about 2 s, then 5 s of stalls):
        // the first send that fails is the server's close.
        var sent = 0
        while sent < 750, (try? slow.send(frame)) != nil {
            sent += 1
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(sent < 750, "the server closed the connection (\(sent) frames sent)")
        #expect(sent > 250, "not before 5 s of stalls: \(sent) frames sent")
        #expect(server.server.snapshot[.droppedPeers] == 1)
        let goodResult = try await good.value
        #expect(goodResult.framesReceived >= 148, "the other call kept its frames: \(goodResult.framesReceived)")
        slow.close()
        try await server.waitForIdle()
        #expect(server.server.snapshot.activeCalls == 0)
        #expect(try await server.server.connectionCount() == 0, "every connection closed")
        try await server.stop()
    }

    /// A blocking client socket with a small receive buffer, so its side fills fast.
    final class SlowReader {
        let socket: Int32

        init(port: Int) throws {
            socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var small: Int32 = 4096
            setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw IOError(errnoCode: errno, reason: "connect") }
            try send(AudioSocketEncoder.encode(.uuid(newUUID())))
        }

        func send(_ bytes: [UInt8]) throws {
            guard bytes.withUnsafeBytes({ Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
                throw IOError(errnoCode: errno, reason: "send")
            }
        }

        /// Reads until `enough` says so (bounded: 5 s).
        func read(until enough: ([UInt8]) throws -> Bool) throws {
            var chunk = [UInt8](repeating: 0, count: 4096)
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.recv(socket, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { throw IOError(errnoCode: errno, reason: "recv") }
                if try enough(Array(chunk[..<count])) { return }
            }
        }

        func close() { Glibc.close(socket) }
    }
}

/// Load: run on the release build (`make test-release`); a debug build is too slow to pace
/// 100 calls plus their 100 clients on two cores, and the figure that matters is the shipped one.
@Suite(.serialized)
struct AudioSocketLoadTests {
    /// 100 concurrent calls for 10 s against the tone agent: no underrun and bounded jitter.
    @Test func aHundredConcurrentCallsArePacedWithoutUnderruns() async throws {
        let server = try await TestServer(agent: "tone:440:30000")
        // The callers get their own threads, so their reads are not queued behind the server's work.
        let callers = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        // Calls arrive over the first second, as they would on a real system.
        let report = await AudioSocketLoad.run(host: "127.0.0.1", port: server.port, calls: 100, seconds: 10, rampSeconds: 1, group: callers)
        print("100 calls × 10 s: \(report.summary); jitter p50 \(report.jitterPercentile(0.5)) ms, p90 \(report.jitterPercentile(0.9)) ms")
        // Loose, on purpose: a shared 2-core VM stalls now and then; the printed figures are the result.
        #expect(report.completed == 100)
        #expect(report.framesPerCall.count == 100 && report.framesPerCall.allSatisfy { $0 >= 450 },
                "every call got (nearly) all of its 500 frames: min \(report.framesPerCall.min() ?? 0)")
        try await server.waitForIdle()
        #expect(server.server.snapshot.underrunFrames == 0)
        #expect(report.jitterPercentile(0.99) <= 50, "loose bound; the issue's goal is 5 ms")
        try await callers.shutdownGracefully()
        try await server.stop()
    }
}

/// A raw TCP peer that sends bytes and reports whether the server closed the connection in time.
enum RawPeer {
    static func send(_ bytes: [UInt8], port: Int, group: any EventLoopGroup, within limit: TimeAmount) async throws -> Bool {
        let closed = group.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CloseWatcher(closed: closed))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        try await channel.writeAndFlush(buffer)
        let timeout = channel.eventLoop.scheduleTask(in: limit) { closed.fail(ChannelError.ioOnClosedChannel) }
        do {
            try await closed.futureResult.get()
            timeout.cancel()
            return true
        } catch {
            try? await channel.close()
            return false
        }
    }

    final class CloseWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let closed: EventLoopPromise<Void>
        init(closed: EventLoopPromise<Void>) { self.closed = closed }
        func channelInactive(context: ChannelHandlerContext) { closed.succeed() }
        func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
    }
}
