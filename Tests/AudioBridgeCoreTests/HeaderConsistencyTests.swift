// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeSession
import Foundation
import Testing

/// include/audiobridge.h is hand-written; these tests keep its constants equal to the Swift ones.
struct HeaderConsistencyTests {
    static let header: String = {
        let url = TestData.testsDirectory.deletingLastPathComponent().appendingPathComponent("include/audiobridge.h")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    /// The integer value the header gives `name`, as `#define NAME value` or `NAME = value,`.
    static func value(of name: String) -> Int? {
        for line in header.split(separator: "\n") {
            let words = line.split(whereSeparator: { " \t=,".contains($0) })
            if words.count >= 3, words[0] == "#define", words[1] == name { return Int(words[2]) }
            if words.count >= 2, words[0] == name { return Int(words[1]) }
        }
        return nil
    }

    @Test func versionsMatch() {
        #expect(!Self.header.isEmpty)
        #expect(Self.value(of: "AB_ABI_VERSION") == Int(AudioBridgeVersion.abi))
        #expect(Self.value(of: "AB_VERSION_MAJOR") == Int(AudioBridgeVersion.major))
        #expect(Self.value(of: "AB_VERSION_MINOR") == Int(AudioBridgeVersion.minor))
        #expect(Self.value(of: "AB_VERSION_PATCH") == Int(AudioBridgeVersion.patch))
        #expect("\(AudioBridgeVersion.major).\(AudioBridgeVersion.minor).\(AudioBridgeVersion.patch)" == AudioBridgeVersion.string.description)
    }

    @Test func resamplerDefaultQualityMatches() {
        #expect(Self.value(of: "AB_RESAMPLER_DEFAULT_QUALITY") == Resampler.defaultQuality)
    }

    @Test func everyStatusCodeIsInTheHeaderWithItsValue() {
        let names: [AudioBridgeError: String] = [
            .invalidArgument: "AB_E_INVALID_ARGUMENT", .unsupportedSampleRate: "AB_E_UNSUPPORTED_SAMPLE_RATE",
            .unsupportedQuality: "AB_E_UNSUPPORTED_QUALITY", .outOfMemory: "AB_E_OUT_OF_MEMORY",
            .bufferTooSmall: "AB_E_BUFFER_TOO_SMALL", .internalFailure: "AB_E_INTERNAL",
            .wrongFrameSize: "AB_E_WRONG_FRAME_SIZE", .unsupportedCodec: "AB_E_UNSUPPORTED_CODEC",
            .invalidFrameDuration: "AB_E_INVALID_FRAME_DURATION", .abiMismatch: "AB_E_ABI_MISMATCH",
            .invalidState: "AB_E_INVALID_STATE", .wouldBlock: "AB_E_WOULD_BLOCK",
            .protocolViolation: "AB_E_PROTOCOL",
        ]
        #expect(names.count == AudioBridgeError.allCases.count, "a new error needs a header name here")
        for error in AudioBridgeError.allCases {
            #expect(Self.value(of: names[error] ?? "?") == Int(error.code), "\(error)")
        }
        #expect(Self.value(of: "AB_OK") == Int(AudioBridgeStatus.ok))
    }

    @Test func eventKindsAndCodecsMatch() {
        let kinds: [SessionEvent.Kind: String] = [
            .speechStarted: "AB_EVENT_SPEECH_STARTED", .speechStopped: "AB_EVENT_SPEECH_STOPPED", .bargeIn: "AB_EVENT_BARGE_IN",
            .playoutStarted: "AB_EVENT_PLAYOUT_STARTED", .playoutFinished: "AB_EVENT_PLAYOUT_FINISHED", .dtmf: "AB_EVENT_DTMF",
            .transportConnected: "AB_EVENT_TRANSPORT_CONNECTED", .transportDisconnected: "AB_EVENT_TRANSPORT_DISCONNECTED",
            .transportError: "AB_EVENT_TRANSPORT_ERROR", .uplinkOverflow: "AB_EVENT_UPLINK_OVERFLOW",
            .eventsDropped: "AB_EVENT_EVENTS_DROPPED", .bargeInPending: "AB_EVENT_BARGE_IN_PENDING",
            .bargeInResumed: "AB_EVENT_BARGE_IN_RESUMED",
        ]
        for (kind, name) in kinds { #expect(Self.value(of: name) == Int(kind.rawValue), "\(name)") }
        #expect(Self.value(of: "AB_CODEC_ULAW") == Int(PhoneCodec.ulaw.rawValue))
        #expect(Self.value(of: "AB_CODEC_ALAW") == Int(PhoneCodec.alaw.rawValue))
        #expect(Self.value(of: "AB_CODEC_SLIN16") == Int(PhoneCodec.slin16.rawValue))
        #expect(Self.value(of: "AB_BARGE_IN_CALLER_SPEECH") == Int(SessionEvent.BargeInCause.callerSpeech.rawValue))
        #expect(Self.value(of: "AB_BARGE_IN_INTERRUPT") == Int(SessionEvent.BargeInCause.interruptRequest.rawValue))
        #expect(Self.value(of: "AB_BARGE_IN_MODE_IMMEDIATE") == Int(BargeInArbiter.Mode.immediate.rawValue))
        #expect(Self.value(of: "AB_BARGE_IN_MODE_PAUSE") == Int(BargeInArbiter.Mode.pauseThenCommit.rawValue))
    }

    @Test func everyStatusHasADistinctMessage() {
        let messages = AudioBridgeError.allCases.map { $0.message.description }
        #expect(Set(messages).count == messages.count)
        #expect(AudioBridgeStatus.message(for: 0).description == "ok")
        #expect(AudioBridgeStatus.message(for: -999).description == "unknown status code")
    }
}
