// SPDX-License-Identifier: MIT
// Per-packet cost of the RTP path: SRTP protect and unprotect of a 20 ms PCMU packet
// (AES_CM_128_HMAC_SHA1_80), the RTP header parse, and the jitter buffer's insert + read per
// frame. The reference in the same run is copying the same 172-byte packet, which every variant
// also does (the packet is protected in place, so each iteration starts from a fresh copy).
// Unprotect is measured as a protect + unprotect round trip (a receiver refuses a packet index
// twice, so each needs a new packet); unprotect alone ≈ round trip − protect.
import AudioBridgeRTP
import Benchmark
import Foundation

let template: [UInt8] = RTPPacket(header: RTPHeader(payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0x1234_5678),
                                  payload: (0..<160).map { UInt8(truncatingIfNeeded: $0 &* 37) }).serialized()
let key = SRTPMasterKey(keyAndSalt: (0..<30).map { UInt8(truncatingIfNeeded: $0 &* 11) })!

/// Copies the template into `buffer` with sequence number `sequence`.
@inline(__always)
func fresh(_ buffer: UnsafeMutableRawBufferPointer, sequence: UInt16) {
    template.withUnsafeBytes { buffer.copyMemory(from: $0) }
    buffer[2] = UInt8(sequence >> 8)
    buffer[3] = UInt8(sequence & 0xFF)
}

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

    Benchmark("Copy a 172-byte RTP packet (reference)") { benchmark in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 16)
        defer { buffer.deallocate() }
        var sequence: UInt16 = 0
        for _ in benchmark.scaledIterations {
            fresh(buffer, sequence: sequence)
            sequence &+= 1
            blackHole(buffer[100])
        }
    }
    Benchmark("RTP header parse") { benchmark in
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 16)
        defer { buffer.deallocate() }
        var sequence: UInt16 = 0
        for _ in benchmark.scaledIterations {
            fresh(buffer, sequence: sequence)
            sequence &+= 1
            blackHole(RTPPacketView.read(UnsafeRawBufferPointer(rebasing: buffer[0..<template.count])))
        }
    }
    Benchmark("SRTP protect, 20 ms PCMU, HMAC-SHA1-80") { benchmark in
        let sender = SRTPContext(profile: .aes128CmHmacSha1_80, masterKey: key)!
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 16)
        defer { buffer.deallocate() }
        var sequence: UInt16 = 0
        for _ in benchmark.scaledIterations {
            fresh(buffer, sequence: sequence)
            sequence &+= 1
            blackHole(sender.protect(buffer, length: template.count))
        }
    }
    Benchmark("SRTP protect + unprotect, 20 ms PCMU, HMAC-SHA1-80") { benchmark in
        let sender = SRTPContext(profile: .aes128CmHmacSha1_80, masterKey: key)!
        let receiver = SRTPContext(profile: .aes128CmHmacSha1_80, masterKey: key)!
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 16)
        defer { buffer.deallocate() }
        var sequence: UInt16 = 0
        for _ in benchmark.scaledIterations {
            fresh(buffer, sequence: sequence)
            sequence &+= 1
            if case .success(let length) = sender.protect(buffer, length: template.count) {
                blackHole(receiver.unprotect(buffer, length: length))
            }
        }
    }
    Benchmark("Jitter buffer insert + read, 20 ms") { benchmark in
        let jitter = try! JitterBuffer()
        let samples = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 160)
        let out = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 160)
        defer { samples.deallocate(); out.deallocate() }
        for i in 0..<160 { samples[i] = Int16(truncatingIfNeeded: i &* 300) }
        var k = 0
        for _ in benchmark.scaledIterations {
            let now = Int64(k * 160)
            jitter.insert(UnsafeBufferPointer(samples), timestamp: UInt32(truncatingIfNeeded: k * 160), sequenceNumber: UInt16(truncatingIfNeeded: k), ssrc: 1, arrival: now)
            blackHole(jitter.read(into: out, now: now))
            k += 1
        }
    }
}
