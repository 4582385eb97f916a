// SPDX-License-Identifier: MIT
import AudioBridgeCore
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
        ]
        #expect(names.count == AudioBridgeError.allCases.count, "a new error needs a header name here")
        for error in AudioBridgeError.allCases {
            #expect(Self.value(of: names[error] ?? "?") == Int(error.code), "\(error)")
        }
        #expect(Self.value(of: "AB_OK") == Int(AudioBridgeStatus.ok))
    }

    @Test func everyStatusHasADistinctMessage() {
        let messages = AudioBridgeError.allCases.map { $0.message.description }
        #expect(Set(messages).count == messages.count)
        #expect(AudioBridgeStatus.message(for: 0).description == "ok")
        #expect(AudioBridgeStatus.message(for: -999).description == "unknown status code")
    }
}
