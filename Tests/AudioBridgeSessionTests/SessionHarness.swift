// SPDX-License-Identifier: MIT
// Drives a session the way a host does, one frame at a time, and records what the caller
// heard and which events came out: the tests read as scripts ("agent queues 2 s, caller
// silent for 10 frames, caller talks, …") with the outcome checked after each step.
import AudioBridgeCore
import AudioBridgeSession
import Foundation

final class SessionHarness {
    let session: Session
    let configuration: SessionConfiguration
    /// Everything the caller heard, as 8 kHz PCM (decoded if the phone codec is G.711).
    private(set) var heard: [Int16] = []
    private(set) var events: [SessionEvent] = []
    private var callerSamples = 0

    init(_ configure: (inout SessionConfiguration) -> Void = { _ in }) throws {
        var configuration = SessionConfiguration()
        configuration.phoneCodec = .slin16
        configuration.agentFormat = .pcm16(sampleRate: 8000)
        // The scripts queue a whole answer at once and read no uplink, where an agent side
        // offers audio again under back-pressure and reads every turn: room for that here.
        configuration.playoutCapacityMilliseconds = 20_000
        configuration.uplinkCapacityMilliseconds = 2_000
        configure(&configuration)
        self.configuration = configuration
        session = try Session(configuration: configuration)
    }

    var frameSamples: Int { configuration.frameSamples }

    /// A tone at the agent's rate, `milliseconds` long.
    func agentTone(milliseconds: Int, amplitude: Double = 8000, frequency: Double = 440) -> [Int16] {
        let rate = configuration.agentSampleRate
        return (0..<(rate * milliseconds / 1000)).map { Int16(amplitude * sin(2 * .pi * frequency * Double($0) / Double(rate))) }
    }

    /// Queues agent audio; returns the samples taken.
    @discardableResult
    func agentSays(item: UInt64, _ samples: [Int16]) throws -> Int {
        try samples.withUnsafeBytes { try session.agent.writeDownlink(item: item, $0) } / 2
    }

    func agentEnds(item: UInt64) throws { try session.agent.endItem(item) }

    /// One frame both ways: the caller says `frame` (silence when nil), then hears one frame.
    func step(caller frame: [Int16]? = nil) throws {
        let samples = frame ?? [Int16](repeating: 0, count: frameSamples)
        try encode(samples).withUnsafeBytes { try session.media.writeCaller($0).get() }
        var out = [UInt8](repeating: 0, count: configuration.frameBytes)
        let written = try out.withUnsafeMutableBytes { try session.media.readCaller(into: $0).get() }
        precondition(written == configuration.frameBytes)
        heard += decode(out)
        while let event = session.pollEvent() { events.append(event) }
    }

    func silence(frames: Int) throws { for _ in 0..<frames { try step() } }

    /// The caller talking: a loud 300 Hz tone whose loudness rises and falls four times a
    /// second like syllables (a steady tone would soon be taken for background noise),
    /// `frames` frames long.
    func callerTalks(frames: Int, amplitude: Double = 12000) throws {
        for _ in 0..<frames {
            let frame = (0..<frameSamples).map { n -> Int16 in
                let t = Double(callerSamples + n) / 8000
                return Int16(amplitude * (0.6 + 0.4 * cos(2 * .pi * 4 * t)) * sin(2 * .pi * 300 * t))
            }
            callerSamples += frameSamples
            try step(caller: frame)
        }
    }

    func events(_ kind: SessionEvent.Kind) -> [SessionEvent] { events.filter { $0.kind == kind } }

    private func encode(_ samples: [Int16]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: configuration.frameBytes)
        samples.withUnsafeBufferPointer { input in
            bytes.withUnsafeMutableBufferPointer { output in
                switch configuration.phoneCodec {
                case .ulaw: ULaw.encode(input, into: output)
                case .alaw: ALaw.encode(input, into: output)
                case .slin16: UnsafeMutableRawPointer(output.baseAddress!).copyMemory(from: input.baseAddress!, byteCount: input.count * 2)
                }
            }
        }
        return bytes
    }

    private func decode(_ bytes: [UInt8]) -> [Int16] {
        var samples = [Int16](repeating: 0, count: frameSamples)
        bytes.withUnsafeBufferPointer { input in
            samples.withUnsafeMutableBufferPointer { output in
                switch configuration.phoneCodec {
                case .ulaw: ULaw.decode(input, into: output)
                case .alaw: ALaw.decode(input, into: output)
                case .slin16: UnsafeMutableRawPointer(output.baseAddress!).copyMemory(from: input.baseAddress!, byteCount: input.count)
                }
            }
        }
        return samples
    }
}
