// SPDX-License-Identifier: MIT
// The default caller-speech detector: frame energy against an adaptive noise floor, with a
// minimum speech time before speech counts and a hangover before it ends. While agent audio is
// playing it also gates on the playout reference: a caller frame that is not clearly louder
// than what was just played (minus the expected echo return loss) is taken for echo, so the
// agent does not interrupt itself on its own voice coming back down the line.
//
// Realtime-safe: fixed state, a few multiply-adds per sample, no allocation.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct EnergySpeechDetector: Sendable {
    /// What a frame changed.
    public enum Transition: Equatable, Sendable {
        case none
        case speechStarted
        case speechStopped
    }

    public private(set) var isSpeaking = false
    /// The tracked noise floor, as mean-square energy (full scale = 32768²).
    public private(set) var noiseFloor: Float

    private let thresholdRatio: Float
    private let minimumEnergy: Float
    private let echoRatio: Float
    private let framesToStart: Int
    private let framesToStop: Int
    private let floorRisePerFrame: Float
    private var loudFrames = 0
    private var quietFrames = 0
    /// Energy of the last frames handed to the caller (the echo reference), newest last.
    private var referenceHistory: InlineArray<16, Float> = .init(repeating: 0)
    private var referenceIndex = 0
    private let referenceFrames: Int

    public init(settings: SpeechDetectorSettings, frameMilliseconds: Int) {
        func ratio(decibels: Float) -> Float { pow10(decibels / 10) }
        thresholdRatio = ratio(decibels: settings.thresholdAboveNoiseDecibels)
        minimumEnergy = 32768 * 32768 * ratio(decibels: settings.minimumLevelDbfs)
        echoRatio = ratio(decibels: -settings.echoRejectionDecibels)
        framesToStart = max(1, (settings.minimumSpeechMilliseconds + frameMilliseconds - 1) / frameMilliseconds)
        framesToStop = max(1, (settings.hangoverMilliseconds + frameMilliseconds - 1) / frameMilliseconds)
        // The floor follows rising background noise at about 3 dB per second.
        floorRisePerFrame = ratio(decibels: 3 * Float(frameMilliseconds) / 1000)
        referenceFrames = min(16, max(1, 200 / frameMilliseconds))
        noiseFloor = minimumEnergy / thresholdRatio
    }

    /// Mean-square energy of a frame.
    public static func energy(_ samples: UnsafeBufferPointer<Int16>) -> Float {
        guard !samples.isEmpty else { return 0 }
        var sum: Float = 0
        for sample in samples { let x = Float(sample); sum += x * x }
        return sum / Float(samples.count)
    }

    /// Records the energy of the frame just handed to the caller (0 when nothing played).
    public mutating func notePlayed(energy: Float) {
        referenceHistory[referenceIndex] = energy
        referenceIndex = (referenceIndex + 1) % referenceFrames
    }

    /// Classifies one caller frame and returns what changed.
    public mutating func process(_ frame: UnsafeBufferPointer<Int16>) -> Transition {
        let energy = Self.energy(frame)
        var echoReference: Float = 0
        for i in 0..<referenceFrames { echoReference = max(echoReference, referenceHistory[i]) }

        let loud = energy > noiseFloor * thresholdRatio && energy > minimumEnergy && energy > echoReference * echoRatio
        if energy < noiseFloor {
            noiseFloor = 0.7 * noiseFloor + 0.3 * energy  // falls fast
        } else if !loud {
            noiseFloor = min(noiseFloor * floorRisePerFrame, energy)  // rises slowly, never past the frame
        }
        noiseFloor = max(noiseFloor, 1)

        if loud {
            loudFrames += 1
            quietFrames = 0
            if !isSpeaking && loudFrames >= framesToStart {
                isSpeaking = true
                return .speechStarted
            }
        } else {
            quietFrames += 1
            loudFrames = 0
            if isSpeaking && quietFrames >= framesToStop {
                isSpeaking = false
                return .speechStopped
            }
        }
        return .none
    }
}

/// 10^x from the C library (no Foundation); used at creation only.
func pow10(_ x: Float) -> Float { Float(exp(Double(x) * 2.302585092994046)) }
