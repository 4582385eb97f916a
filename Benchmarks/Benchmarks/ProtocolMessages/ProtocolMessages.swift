// SPDX-License-Identifier: MIT
// Cost and allocations per message of the JSON protocols' media path, off the media thread:
// a Twilio `media` message (20 ms of μ-law) and an OpenAI Realtime audio delta / append (20 ms of
// PCM16 24 kHz), each decoded and encoded. The reference in the same run is Base64 alone on the
// same payload: the part no JSON codec can avoid. Figures are per message (1,000 per iteration).
import AudioBridgeCore
import AudioBridgeProtocols
import Benchmark
import Foundation

let ulawFrame: [UInt8] = (0..<160).map { UInt8(truncatingIfNeeded: $0 &* 37) }
let pcmFrame: [UInt8] = (0..<960).map { UInt8(truncatingIfNeeded: $0 &* 11) }
let twilioMedia: [UInt8] = Array(#"{"event":"media","sequenceNumber":"2","streamSid":"MZ0123456789abcdef0123456789abcdef","media":{"track":"inbound","chunk":"1","timestamp":"20","payload":"\#(Base64.encode(ulawFrame))"}}"#.utf8)
let realtimeDelta: [UInt8] = Array(#"{"type":"response.output_audio.delta","event_id":"event_123","response_id":"resp_1","item_id":"item_7","output_index":0,"content_index":0,"delta":"\#(Base64.encode(pcmFrame))"}"#.utf8)
let pcmBase64 = Array(Base64.encode(pcmFrame).utf8)

let benchmarks: @Sendable () -> Void = {
    let smoke = ProcessInfo.processInfo.environment["AB_BENCH_SMOKE"] != nil
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: smoke ? 1 : 3,
        scalingFactor: .kilo,
        maxDuration: smoke ? .milliseconds(100) : .seconds(3),
        maxIterations: smoke ? 3 : 1_000
    )

    // The references: Base64 alone, both ways, on 20 ms of PCM16 24 kHz.
    Benchmark("Base64 decode, 960 B (reference)") { benchmark in
        for _ in benchmark.scaledIterations {
            var out: [UInt8] = []
            try? Base64.decode(pcmBase64, into: &out)
            blackHole(out)
        }
    }
    Benchmark("Base64 encode, 960 B (reference)") { benchmark in
        for _ in benchmark.scaledIterations {
            var out: [UInt8] = []
            Base64.encode(pcmFrame, into: &out)
            blackHole(out)
        }
    }

    Benchmark("Twilio media decode, 160 B") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try? TwilioMediaStreamCodec.decode(twilioMedia)) }
    }
    Benchmark("Twilio media encode, 160 B") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(TwilioMediaStreamCodec.encode(.media(payload: ulawFrame), streamSid: "MZ0123456789abcdef0123456789abcdef")) }
    }
    Benchmark("Realtime audio delta decode, 960 B") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try? RealtimeCodec.decode(realtimeDelta)) }
    }
    Benchmark("Realtime append encode, 960 B") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(RealtimeCodec.encode(.appendAudio(pcmFrame), version: .ga)) }
    }
}
