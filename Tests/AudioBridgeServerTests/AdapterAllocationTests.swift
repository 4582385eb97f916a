// SPDX-License-Identifier: MIT
// Each transport's adapter on the call pipeline, frame after frame, with the allocation and
// mutex counter around what a call does per 20 ms: its peer's audio in (for AudioSocket through
// the protocol decoder, for RTP as a datagram through the endpoint; for the WebSocket transports
// from the decoded message, whose assembly from WebSocket frames is NIO's and allocates), the
// frame out through the adapter's writer to the channel. An EmbeddedChannel stands in for the
// socket; reading its outbound queue (what the socket would do) is not counted, nor is the
// loop's agent servicing (once per 20 ms for all of a loop's calls). Ticks that carry a
// control message (a mark after an item, a flush or pause at a barge-in: a few per item, each
// encoded as its own message) are counted apart and reported: the claim is about the 20 ms audio
// path, which must not allocate at all. Release build only (`make test-release`), like the
// session's allocation test.
import AllocationCounter
@testable import AudioBridgeServer
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeRTP
import AudioBridgeSession
import Glibc
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@Suite(.serialized)
struct AdapterAllocationTests {
    static let frames = 10_000
    static let warmUp = 1_000

    /// The adapter under test, with a note of the ticks on which the pipeline asked it for a
    /// control message.
    final class ControlWatch: PhoneSide {
        let inner: PhoneSide
        var controls = 0
        init(_ inner: PhoneSide) { self.inner = inner }
        var isOpen: Bool { inner.isOpen }
        var isWritable: Bool { inner.isWritable }
        var sendsSilence: Bool { inner.sendsSilence }
        var isHeld: Bool { inner.isHeld }
        var flushDropsMarks: Bool { inner.flushDropsMarks }
        func readFrame(for call: CallPipeline) -> UnsafeRawBufferPointer? { inner.readFrame(for: call) }
        func send(frame: UnsafeRawBufferPointer) { inner.send(frame: frame) }
        func flush() -> Bool { controls += 1; return inner.flush() }
        func pausePlayout() { controls += 1; inner.pausePlayout() }
        func mark(name: String) -> Bool { controls += 1; return inner.mark(name: name) }
        func hangUp() { inner.hangUp() }
    }

    /// A call of `transport` on `channel`, its side made by `side`; the echo agent answers each
    /// second of talk, so items start, finish and are marked all along.
    struct Rig {
        let channel: EmbeddedChannel
        let pacer: CallPacer
        let call: CallPipeline
        let watch: ControlWatch
        let services = BridgeServices()

        init(transport: PhoneTransport, channel: EmbeddedChannel, codec: PhoneCodec, side: (Session) throws -> PhoneSide) throws {
            self.channel = channel
            pacer = try CallPacer(eventLoop: channel.embeddedEventLoop)
            var settings = CallSettings()
            settings.agent = "echo"
            settings.session.phoneCodec = codec
            settings.session.agentFormat = .pcm16(sampleRate: 8000)
            settings = try CallAgent.validate(settings)
            #expect(services.admission.admit() == nil)
            var watch: ControlWatch!
            call = try CallPipeline(side: { session in watch = ControlWatch(try side(session)); return watch }, callID: "allocation", session: settings.session, settings: settings, metadata: [],
                                    services: services, transport: transport, pacer: pacer, eventLoop: channel.embeddedEventLoop,
                                    logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), observer: nil)
            self.watch = watch
        }

        struct Outcome {
            /// Over the counted ticks without a control message.
            var audio = ab_allocation_counts()
            /// Over the ticks with one, and how many there were.
            var control = ab_allocation_counts()
            var controlTicks = 0
            var sent = 0
        }

        /// Runs the call; `receive(i)` delivers frame i's caller audio.
        func run(datagrams: Bool = false, receive: (Int) -> Void) throws -> Outcome {
            var outcome = Outcome()
            for i in 0..<(Self.warmUp + Self.frames) {
                let counted = i >= Self.warmUp
                if counted { ab_counting_start() }
                receive(i)
                var part = counted ? ab_counting_stop() : ab_allocation_counts()
                pacer.engine.serviceOnce()
                let controlsBefore = watch.controls
                if counted { ab_counting_start() }
                call.sendFrame()
                if counted {
                    let sending = ab_counting_stop()
                    part.allocations += sending.allocations
                    part.mutex_locks += sending.mutex_locks
                    if watch.controls == controlsBefore {
                        outcome.audio.allocations += part.allocations
                        outcome.audio.mutex_locks += part.mutex_locks
                    } else {
                        outcome.control.allocations += part.allocations
                        outcome.control.mutex_locks += part.mutex_locks
                        outcome.controlTicks += 1
                    }
                }
                if datagrams {
                    while let _ = try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) { outcome.sent += 1 }
                } else {
                    while let _ = try channel.readOutbound(as: ByteBuffer.self) { outcome.sent += 1 }
                }
            }
            return outcome
        }

        static let warmUp = AdapterAllocationTests.warmUp
        static let frames = AdapterAllocationTests.frames
    }

    /// One second of talk, then three of silence (the echo plays it back to its end), then
    /// talk over the next echo: items finish and are marked, and some are cut.
    static let caller: [[Int16]] = {
        let speech = talk(seconds: 1, level: 12000)
        return (0..<200).map { i in i % 200 < 50 ? Array(speech[i * 160..<(i + 1) * 160]) : [Int16](repeating: 0, count: 160) }
    }()

    /// What each test checks of the outcome: the audio path allocates nothing and takes only the
    /// histogram's lock; the control messages are reported.
    static func check(_ outcome: Rig.Outcome, _ name: String) {
        #expect(outcome.audio.allocations == 0, "\(name): audio ticks allocated \(outcome.audio.allocations)")
        // The only locks, control ticks included: the histogram's, one frame in 16.
        #expect(outcome.audio.mutex_locks + outcome.control.mutex_locks == histogramLocks)
        print("\(name): \(frames) frames, audio ticks: \(outcome.audio.allocations) allocations, \(outcome.audio.mutex_locks) locks; "
            + "\(outcome.controlTicks) ticks with a control message: \(outcome.control.allocations) allocations")
    }

    static func connected() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return channel
    }

    /// The per-frame time histogram takes its lock one frame in 16: the only lock allowed.
    static let histogramLocks = UInt64(frames) / TransportMetrics.frameTimingInterval

    /// AudioSocket through its real socket path: the peer's message written to one end of a
    /// socket pair, the poller's `epoll_wait` and `recv`, the decoder, and the frame out with
    /// `send`; the peer's end is drained each tick (system calls, no allocation: counted too).
    @Test func audioSocket() throws {
        let channel = try Self.connected()
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &pair) == 0)
        defer { close(pair[1]) }
        let poller = try AudioSocketPoller(eventLoop: channel.embeddedEventLoop, pacer: CallPacer(eventLoop: channel.embeddedEventLoop))
        let connection = try #require(poller.adopt(pair[0]))
        let side = AudioSocketSide(uuid: AudioSocketUUID(string: "7d1c8a4e-4b0a-4c36-9f0e-2a7e8d9b1c55")!, connection: connection,
                                   frameBytes: 320, quality: 4)
        let rig = try Rig(transport: .audioSocket, channel: channel, codec: .slin16) { _ in side }
        connection.attach(side: side, call: rig.call)
        let messages = Self.caller.map { frame in try! AudioSocketEncoder.encode(.audio(sampleRate: 8000, payload: frame.withUnsafeBytes { Array($0) }[...])) }
        let peerBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { peerBuffer.deallocate() }
        var bytesBack = 0, shortSends = 0
        let outcome = try rig.run { i in
            while case let count = recv(pair[1], peerBuffer.baseAddress, peerBuffer.count, 0), count > 0 { bytesBack += count }
            if messages[i % messages.count].withUnsafeBytes({ send(pair[1], $0.baseAddress, $0.count, 0) }) != 323 { shortSends += 1 }
            poller.poll()
        }
        #expect(shortSends == 0)
        while case let count = recv(pair[1], peerBuffer.baseAddress, peerBuffer.count, 0), count > 0 { bytesBack += count }
        #expect(rig.services.metrics[.audioSocket].snapshot.framesIn == Self.warmUp + Self.frames, "every message read and fed")
        #expect(bytesBack / 323 >= Self.warmUp + Self.frames - 1, "every frame came back whole: \(bytesBack) bytes")
        #expect(bytesBack % 323 == 0)
        Self.check(outcome, "AudioSocket")
        connection.close()
    }

    @Test func twilio() throws {
        let channel = try Self.connected()
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder())
        let side = TwilioStreamSide(start: TwilioStreamStart(streamSid: "MZ0123456789abcdef0123456789abcdef"), channel: channel, frameBytes: 160,
                                     restAPI: nil, logger: Logger(label: "test"))
        let rig = try Rig(transport: .twilio, channel: channel, codec: .ulaw) { _ in side }
        // Twilio's media messages as a client sends them: masked TEXT frames, unmasked and
        // scanned by the adapter itself.
        let key: WebSocketMaskingKey = [0x37, 0xFA, 0x21, 0x3D]
        let inbound: [WebSocketFrame] = Self.caller.enumerated().map { n, frame in
            let text = #"{"event":"media","sequenceNumber":"\#(n + 2)","media":{"track":"inbound","chunk":"\#(n + 1)","timestamp":"\#(20 * n)","payload":"\#(Base64.encode(frame.map { ULaw.encode($0) }))"},"streamSid":"MZ0123456789abcdef0123456789abcdef"}"#
            var data = ByteBuffer(bytes: Array(text.utf8))
            data.webSocketMask(key)
            return WebSocketFrame(fin: true, opcode: .text, maskKey: key, data: data)
        }
        var scanned = 0
        let outcome = try rig.run { i in if side.receiveMedia(inbound[i % inbound.count], into: rig.call) { scanned += 1 } }
        #expect(scanned == Self.warmUp + Self.frames, "every media message took the scan")
        #expect(rig.services.metrics[.twilio].snapshot.framesIn == Self.warmUp + Self.frames)
        #expect(outcome.sent >= Self.warmUp + Self.frames)
        #expect(rig.services.metrics[.twilio].snapshot.marksSent > 10)
        Self.check(outcome, "Twilio")
    }

    /// An upgraded WebSocket connection as the media listener sees it.
    static func webSocket() throws -> (EmbeddedChannel, WebSocketMessageChannel) {
        let channel = try connected()
        try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder())
        return (channel, WebSocketMessageChannel(channel: channel, compression: nil, maximumMessageBytes: 65_536))
    }

    /// The listener's session settings before the call's own codec is set.
    static var listenerSession: SessionConfiguration {
        var base = SessionConfiguration()
        base.agentFormat = .pcm16(sampleRate: 8000)
        return base
    }

    @Test func chanWebSocket() throws {
        let (channel, messages) = try Self.webSocket()
        let start = Array("MEDIA_START connection_id:c1 channel:WebSocket/c1/0x1 channel_id:1.1 format:ulaw optimal_frame_size:160 ptime:20".utf8)
        let side = try ChanWebSocketSide(first: start, messages: messages, session: Self.listenerSession)
        let rig = try Rig(transport: .chanWebSocket, channel: channel, codec: .ulaw) { _ in side }
        let audio = Self.caller.map { frame in WebSocketMessage.binary(frame.map { ULaw.encode($0) }) }
        let outcome = try rig.run { i in try? side.receive(audio[i % audio.count], into: rig.call) }
        #expect(outcome.sent > Self.frames / 5, "the echo's frames and marks went out: \(outcome.sent)")
        #expect(rig.services.metrics[.chanWebSocket].snapshot.marksSent > 10)
        Self.check(outcome, "chan_websocket")
    }

    @Test func freeSWITCHJambonzAt16kHz() throws {
        let (channel, messages) = try Self.webSocket()
        let metadata = WebSocketMessage.text(Array(#"{"callSid":"fs-1","sampleRate":16000,"mixType":"mono"}"#.utf8))
        let side = try FreeSWITCHForkSide(first: metadata, subprotocol: "audio.jambonz.org", uri: "/", messages: messages,
                                          defaultSampleRate: 8000, playbackChunkMilliseconds: 200, session: Self.listenerSession)
        let rig = try Rig(transport: .freeSWITCH, channel: channel, codec: .slin16) { _ in side }
        // 16 kHz L16: each 8 kHz frame's samples twice (the resampler makes it smooth enough).
        let audio = Self.caller.map { frame in WebSocketMessage.binary(frame.flatMap { [$0, $0] }.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }) }
        let outcome = try rig.run { i in try? side.receive(audio[i % audio.count], into: rig.call) }
        #expect(outcome.sent > Self.frames / 5, "the echo's frames and marks went out: \(outcome.sent)")
        #expect(rig.services.metrics[.freeSWITCH].snapshot.marksSent > 10)
        Self.check(outcome, "FreeSWITCH jambonz 16 kHz")
    }

    @Test func rtp() throws {
        let channel = try Self.connected()
        var configuration = RTPServerConfiguration()
        configuration.codec = .ulaw
        let remote = try SocketAddress(ipAddress: "127.0.0.1", port: 40_002)
        var side: RTPSide!
        let rig = try Rig(transport: .rtp, channel: channel, codec: .ulaw) { session in
            side = try RTPSide(configuration: configuration, session: session, channel: channel, remote: remote)
            return side
        }
        var datagram = ByteBuffer()
        let outcome = try rig.run(datagrams: true) { i in
            let frame = Self.caller[i % Self.caller.count]
            datagram.clear()
            datagram.writeWithUnsafeMutableBytes(minimumWritableBytes: 12 + 160) { out in
                _ = RTPHeader(marker: i == 0, payloadType: 0, sequenceNumber: UInt16(truncatingIfNeeded: i), timestamp: UInt32(truncatingIfNeeded: i * 160), ssrc: 0x1234).write(to: out)
                for j in 0..<160 { out[12 + j] = ULaw.encode(frame[j]) }
                return 12 + 160
            }
            side.receive(datagram, from: remote, call: rig.call)
        }
        #expect(outcome.sent >= Self.warmUp + Self.frames - 1)
        #expect(side.endpoint.statistics.packetsReceived == UInt64(Self.warmUp + Self.frames))
        Self.check(outcome, "RTP")
    }
}
