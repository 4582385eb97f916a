// SPDX-License-Identifier: MIT
// An AudioSocket client that behaves like Asterisk: UUID first, a 20 ms slin frame every 20 ms
// (320 bytes at 8 kHz, kind 0x10; other rates use kinds 0x11–0x18 as Asterisk 22.7+ does), DTMF
// as 0x03 messages, a plain TCP close at the end. For tests, load checks, and people
// without an Asterisk (`audiobridge call`).
import AudioBridgeProtocols
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

public struct AudioSocketCallScript: Sendable {
    public var uuid: AudioSocketUUID
    /// What the caller says (PCM at `sampleRate`); silence follows until `totalFrames`.
    public var caller: [Int16]
    public var totalFrames: Int
    /// DTMF digits to send, keyed by frame index.
    public var dtmf: [Int: UInt8] = [:]
    /// The call's slin rate: 8000 (kind 0x10) or another AudioSocket rate (0x11–0x18).
    public var sampleRate: Int

    public init(uuid: AudioSocketUUID, caller: [Int16], totalFrames: Int, dtmf: [Int: UInt8] = [:], sampleRate: Int = 8000) {
        self.uuid = uuid
        self.caller = caller
        self.totalFrames = totalFrames
        self.dtmf = dtmf
        self.sampleRate = sampleRate
    }
}

public struct AudioSocketCallResult: Sendable {
    /// Everything the server sent, as PCM, in arrival order.
    public var received: [Int16] = []
    /// The sample rates of the audio messages the server sent.
    public var receivedSampleRates: Set<Int> = []
    public var framesReceived = 0
    /// When each audio message arrived (monotonic nanoseconds), for jitter measurements.
    public var arrivalNanoseconds: [UInt64] = []
    /// The server hung up (0x00 or close) before the script ended.
    public var hungUpByServer = false
}

public enum AudioSocketClient {
    /// Runs one call against `host:port` and returns what came back.
    public static func run(host: String, port: Int, script: AudioSocketCallScript, group: any EventLoopGroup) async throws -> AudioSocketCallResult {
        let collector = NIOLockedValueBox(AudioSocketCallResult())
        let finished = Completion(promise: group.next().makePromise(of: Void.self))
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReceiveHandler(collector: collector, finished: finished))
                }
            }
            .connect(host: host, port: port).get()

        try await channel.eventLoop.submit {
            let sender = Sender(channel: channel, script: script, finished: finished)
            try sender.start()
        }.get()
        try await finished.promise.futureResult.get()
        try? await channel.close()
        return collector.withLockedValue { $0 }
    }

    /// Sends the UUID, then one frame every 20 ms on absolute deadlines, then closes.
    final class Sender {
        let channel: Channel
        let script: AudioSocketCallScript
        let finished: Completion
        var frame = 0
        let startTime = NIODeadline.now()

        init(channel: Channel, script: AudioSocketCallScript, finished: Completion) {
            self.channel = channel
            self.script = script
            self.finished = finished
        }

        func start() throws(AudioSocketError) {
            var buffer = channel.allocator.buffer(capacity: 19)
            buffer.writeBytes(try AudioSocketEncoder.encode(.uuid(script.uuid)))
            channel.writeAndFlush(buffer, promise: nil)
            schedule()
        }

        private func schedule() {
            channel.eventLoop.assumeIsolated().scheduleTask(deadline: startTime + .milliseconds(20 * Int64(frame + 1))) { [self] in
                guard channel.isActive, frame < script.totalFrames else {
                    finished.complete(serverHungUp: false)
                    return
                }
                var bytes: [UInt8] = []
                if let digit = script.dtmf[frame] { try? AudioSocketEncoder.encode(.dtmf(digit), into: &bytes) }
                let samples = script.sampleRate / 50
                var payload = ArraySlice<UInt8>(repeating: 0, count: 2 * samples)
                for i in 0..<samples {
                    let at = frame * samples + i
                    let sample = at < script.caller.count ? script.caller[at] : 0
                    payload[2 * i] = UInt8(truncatingIfNeeded: sample)
                    payload[2 * i + 1] = UInt8(truncatingIfNeeded: sample >> 8)
                }
                try? AudioSocketEncoder.encode(.audio(sampleRate: script.sampleRate, payload: payload), into: &bytes)
                var buffer = channel.allocator.buffer(capacity: bytes.count)
                buffer.writeBytes(bytes)
                channel.writeAndFlush(buffer, promise: nil)
                frame += 1
                schedule()
            }
        }
    }

    final class ReceiveHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let collector: NIOLockedValueBox<AudioSocketCallResult>
        let finished: Completion
        var decoder = AudioSocketDecoder()

        init(collector: NIOLockedValueBox<AudioSocketCallResult>, finished: Completion) {
            self.collector = collector
            self.finished = finished
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            decoder.append(unwrapInboundIn(data).readableBytesView)
            while let message = try? decoder.next() {
                switch message {
                case .audio(let rate, let payload):
                    let now = NIODeadline.now().uptimeNanoseconds
                    collector.withLockedValue { result in
                        result.framesReceived += 1
                        result.receivedSampleRates.insert(rate)
                        result.arrivalNanoseconds.append(now)
                        for i in stride(from: payload.startIndex, to: payload.endIndex - 1, by: 2) {
                            result.received.append(Int16(bitPattern: UInt16(payload[i]) | UInt16(payload[i + 1]) << 8))
                        }
                    }
                case .hangup:
                    if finished.complete(serverHungUp: true) { collector.withLockedValue { $0.hungUpByServer = true } }
                    context.close(promise: nil)
                default:
                    break
                }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            if finished.complete(serverHungUp: true) { collector.withLockedValue { $0.hungUpByServer = true } }
        }
    }

    /// Ends the call once, from whichever side ends it first.
    final class Completion: Sendable {
        let promise: EventLoopPromise<Void>
        private let done = NIOLockedValueBox(false)

        init(promise: EventLoopPromise<Void>) { self.promise = promise }

        /// Returns true if this call ended it.
        @discardableResult
        func complete(serverHungUp: Bool) -> Bool {
            let first = done.withLockedValue { done in
                defer { done = true }
                return !done
            }
            if first { promise.succeed() }
            return first
        }
    }
}
