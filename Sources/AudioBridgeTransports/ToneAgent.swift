// SPDX-License-Identifier: MIT
// The `tone` local agent: answers with a tone, at once and again after each thing the caller
// says. Handy for checking levels, playout and barge-in without any speech.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AudioBridgeCore
import AudioBridgeSession

public final class ToneAgent: AgentTransport {
    private let live = LiveObject(.agent)
    public let frequency: Double
    public let milliseconds: Int
    private var clip: UnsafeMutableRawBufferPointer?
    private var streamer: ItemStreamer
    private var greeted = false

    /// `followUp`: asked for each time the caller has heard the whole tone.
    public init(frequency: Double = 440, milliseconds: Int = 2000, then followUp: AgentFollowUp = .none) throws(AudioBridgeError) {
        guard frequency > 0, frequency < 4000, (10...60_000).contains(milliseconds) else { throw .invalidArgument }
        self.frequency = frequency
        self.milliseconds = milliseconds
        streamer = ItemStreamer(then: followUp)
    }

    deinit { clip?.deallocate() }

    public func attached(to session: Session) {
        clip = Clip.tone(frequency: frequency, milliseconds: milliseconds, configuration: session.configuration)
    }

    public func send(uplink audio: UnsafeRawBufferPointer) -> Int32 { 0 }

    public func handle(_ event: SessionEvent) {
        streamer.handle(event)
        if event.kind == .speechStopped, let clip { streamer.start(UnsafeRawBufferPointer(clip)) }
    }

    public func poll(_ session: Session) {
        if !greeted, let clip {
            greeted = true
            streamer.start(UnsafeRawBufferPointer(clip))
        }
        streamer.pump(session)
    }
}

/// Audio clips in a session's agent format.
enum Clip {
    /// A sine tone at half scale with 5 ms ramps, in the session's agent format.
    static func tone(frequency: Double, milliseconds: Int, configuration: SessionConfiguration) -> UnsafeMutableRawBufferPointer {
        let rate = configuration.agentSampleRate
        let samples = rate * milliseconds / 1000
        // A rotating phasor instead of sin() per sample: long clips are built in a few ms.
        let step = 2 * Double.pi * frequency / Double(rate)
        let (stepCos, stepSin) = (cos(step), sin(step))
        var (c, s) = (1.0, 0.0)
        var pcm = [Int16](repeating: 0, count: samples)
        for n in 0..<samples {
            let ramp = min(1, Double(min(n, samples - 1 - n)) / (0.005 * Double(rate)))
            pcm[n] = Int16(16000 * ramp * s)
            (c, s) = (c * stepCos - s * stepSin, s * stepCos + c * stepSin)
            if n % 1024 == 0 {
                let norm = (c * c + s * s).squareRoot()  // keep the amplitude from drifting
                (c, s) = (c / norm, s / norm)
            }
        }
        return encode(pcm, for: configuration)
    }

    /// PCM at the agent rate → agent-format bytes (G.711 in passthrough).
    static func encode(_ pcm: [Int16], for configuration: SessionConfiguration) -> UnsafeMutableRawBufferPointer {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, pcm.count * configuration.agentFormat.bytesPerSample), alignment: 16)
        pcm.withUnsafeBufferPointer { source in
            if configuration.agentFormat == .g711Passthrough {
                let codes = bytes.bindMemory(to: UInt8.self)
                if configuration.phoneCodec == .alaw { ALaw.encode(source, into: codes) } else { ULaw.encode(source, into: codes) }
            } else {
                bytes.copyMemory(from: UnsafeRawBufferPointer(source))
            }
        }
        return bytes
    }
}
