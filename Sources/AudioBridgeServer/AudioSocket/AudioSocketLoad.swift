// SPDX-License-Identifier: MIT
// A load generator made of Asterisk-like AudioSocket callers (AudioSocketClient): N concurrent
// calls, connected over a ramp, each talking in bursts (300 ms of speech-like tones, 700 ms of
// silence) for a fixed time. It measures what a caller experiences: every call completed, and
// the gap between consecutive frames received. Used by the load test, `audiobridge load` and
// scripts/capacity.sh (which cross-checks with ../shared/tools/asload).
import AudioBridgeProtocols
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct AudioSocketLoadReport: Sendable {
    public var calls = 0
    /// Calls that ran to their end without the server hanging up or the connection failing.
    public var completed = 0
    public var framesSent = 0
    /// Frames each call received, for the calls that connected.
    public var framesPerCall: [Int] = []
    public var framesReceived: Int { framesPerCall.reduce(0, +) }
    /// Gaps between consecutive received frames, in ms, sorted.
    public var gapsMilliseconds: [Double] = []
    /// |gap − 20 ms| for the same gaps, sorted: the pacing jitter a caller sees.
    public var jitterMilliseconds: [Double] = []

    public func gapPercentile(_ q: Double) -> Double { Self.percentile(q, of: gapsMilliseconds) }
    public func jitterPercentile(_ q: Double) -> Double { Self.percentile(q, of: jitterMilliseconds) }

    static func percentile(_ q: Double, of sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return .infinity }
        return sorted[Int((Double(sorted.count - 1) * q).rounded())]
    }

    /// One line for logs and the closing note.
    public var summary: String {
        func ms(_ value: Double) -> String {
            guard value.isFinite else { return "-" }
            let tenths = Int((value * 10).rounded())
            return "\(tenths / 10).\(tenths % 10)"
        }
        return "\(completed)/\(calls) calls completed, \(framesReceived)/\(framesSent) frames back, received-frame gap "
            + "p50 \(ms(gapPercentile(0.5))) ms, p99 \(ms(gapPercentile(0.99))) ms, max \(ms(gapPercentile(1))) ms; "
            + "jitter |gap − 20 ms| p99 \(ms(jitterPercentile(0.99))) ms"
    }
}

public enum AudioSocketLoad {
    /// Runs `calls` calls of `seconds` each against host:port, connecting them evenly over
    /// `rampSeconds`, on `group` (give the callers their own threads).
    public static func run(host: String, port: Int, calls: Int, seconds: Int, rampSeconds: Double,
                           group: any EventLoopGroup) async -> AudioSocketLoadReport {
        let frames = seconds * 50
        let caller = burstyCaller(frames: frames)
        let results = await withTaskGroup(of: AudioSocketCallResult?.self) { tasks in
            for index in 0..<calls {
                tasks.addTask {
                    let delay = rampSeconds * Double(index) / Double(max(1, calls))
                    try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                    let script = AudioSocketCallScript(uuid: AudioSocketUUID.random(), caller: caller, totalFrames: frames)
                    return try? await AudioSocketClient.run(host: host, port: port, script: script, group: group)
                }
            }
            var all: [AudioSocketCallResult?] = []
            for await result in tasks { all.append(result) }
            return all
        }
        var report = AudioSocketLoadReport()
        report.calls = calls
        report.framesSent = calls * frames
        for case let result? in results {
            if !result.hungUpByServer { report.completed += 1 }
            report.framesPerCall.append(result.framesReceived)
            let times = result.arrivalNanoseconds
            for i in times.indices.dropFirst() { report.gapsMilliseconds.append(Double(times[i] - times[i - 1]) / 1e6) }
        }
        report.jitterMilliseconds = report.gapsMilliseconds.map { abs($0 - 20) }.sorted()
        report.gapsMilliseconds.sort()
        return report
    }

    /// 300 ms of a three-tone "syllable" at about −12 dBFS, then 700 ms of silence, repeated:
    /// enough for the echo agent to detect speech and answer, like asload's default audio.
    static func burstyCaller(frames: Int) -> [Int16] {
        (0..<(frames * 160)).map { n in
            guard n % 8000 < 2400 else { return 0 }
            let t = Double(n) / 8000
            let tone = sin(2 * .pi * 310 * t) + 0.7 * sin(2 * .pi * 1130 * t) + 0.5 * sin(2 * .pi * 2470 * t)
            return Int16(8200 * tone / 2.2)
        }
    }
}
