// SPDX-License-Identifier: MIT
// A load generator of Asterisk-like chan_websocket channels: N concurrent connections, each
// sending MEDIA_START and then a μ-law frame every 20 ms (silence: the caller listens), answering
// MARK_MEDIA as Asterisk does, and timing every BINARY frame that comes back. Run it against a
// server whose agent talks all the time (`--agent wav:LONG.wav`) to see the downlink's pacing
// under load: `audiobridge load --asterisk-ws HOST:PORT`.
import AudioBridgeProtocols
import NIOCore

public enum ChanWebSocketLoad {
    public static func run(host: String, port: Int, calls: Int, seconds: Int, rampSeconds: Double,
                           group: any EventLoopGroup) async -> AudioSocketLoadReport {
        let results = await withTaskGroup(of: ChanWebSocketCaller.Result?.self) { tasks in
            for index in 0..<calls {
                tasks.addTask {
                    let delay = rampSeconds * Double(index) / Double(max(1, calls))
                    try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                    let loop = group.next()
                    let promise = loop.makePromise(of: ChanWebSocketCaller.Result.self)
                    loop.execute {
                        ChanWebSocketCaller.start(host: host, port: port, index: index, frames: seconds * 50, eventLoop: loop, done: promise)
                    }
                    return try? await promise.futureResult.get()
                }
            }
            var all: [ChanWebSocketCaller.Result?] = []
            for await result in tasks { all.append(result) }
            return all
        }
        var report = AudioSocketLoadReport()
        report.calls = calls
        report.framesSent = calls * seconds * 50
        for case let result? in results {
            if result.completed { report.completed += 1 }
            report.framesPerCall.append(result.arrivals.count)
            let times = result.arrivals
            for i in times.indices.dropFirst() { report.gapsMilliseconds.append(Double(times[i] - times[i - 1]) / 1e6) }
        }
        report.jitterMilliseconds = report.gapsMilliseconds.map { abs($0 - 20) }.sorted()
        report.gapsMilliseconds.sort()
        return report
    }
}

/// One channel, on its event loop.
final class ChanWebSocketCaller: WebSocketClientDelegate {
    struct Result: Sendable {
        var arrivals: [UInt64] = []
        var completed = false
    }

    private var client: WebSocketClient?
    private var result = Result()
    private var sent = 0
    private let frames: Int
    private let index: Int
    private let done: EventLoopPromise<Result>
    private let eventLoop: any EventLoop
    private var timer: Scheduled<Void>?
    private var started = NIODeadline.now()
    private static let silence = [UInt8](repeating: 0xFF, count: 160)
    private var finished = false

    private init(index: Int, frames: Int, eventLoop: any EventLoop, done: EventLoopPromise<Result>) {
        self.index = index
        self.frames = frames
        self.eventLoop = eventLoop
        self.done = done
    }

    static func start(host: String, port: Int, index: Int, frames: Int, eventLoop: any EventLoop, done: EventLoopPromise<Result>) {
        let caller = ChanWebSocketCaller(index: index, frames: frames, eventLoop: eventLoop, done: done)
        let url = ServerURL.webSocket("ws://\(host):\(port)/media")!
        caller.client = WebSocketClient.connect(url: url, headers: [], additionalTrustRootsPEM: nil, maximumMessageBytes: 1 << 16,
                                                eventLoop: eventLoop, timeout: .seconds(10), delegate: caller)
    }

    func webSocketOpened() {
        client?.send(Array("MEDIA_START connection_id:load\(index) channel:WebSocket/load/\(index) channel_id:load.\(index) format:ulaw optimal_frame_size:160 ptime:20".utf8))
        started = .now()
        scheduleFrame()
    }

    /// The next frame on an absolute 20 ms grid (no drift).
    private func scheduleFrame() {
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: started + .milliseconds(20 * Int64(sent + 1))) { [self] in
            client?.send(binary: Self.silence)
            sent += 1
            if sent >= frames {
                result.completed = true
                client?.close()
            } else {
                scheduleFrame()
            }
        }
    }

    func webSocketReceived(text: [UInt8]) {
        let message = String(decoding: text, as: UTF8.self)
        if message.hasPrefix("MARK_MEDIA ") {
            client?.send(Array(("MEDIA_MARK_PROCESSED correlation_id:" + message.dropFirst("MARK_MEDIA ".count)).utf8))
        }
    }

    func webSocketReceived(binary: ByteBuffer) {
        result.arrivals.append(NIODeadline.now().uptimeNanoseconds)
    }

    func webSocketProtocolError(_ error: Error) {}

    func webSocketClosed(cause: String) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        done.succeed(result)
        client = nil
    }
}
