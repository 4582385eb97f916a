// swift-tools-version:6.0
// SPDX-License-Identifier: MIT
// libFuzzer targets, one per decoder or parser that sees bytes from outside: each an executable
// whose LLVMFuzzerTestOneInput takes one input (no main: libFuzzer brings it). Built and run by
// `make fuzz SECONDS=N` (scripts/fuzz.sh) with `swift build --sanitize fuzzer --sanitize address`;
// seed corpora in Corpus/<target>.
import PackageDescription

func target(_ name: String, _ modules: [String]) -> Target {
    .executableTarget(
        name: "Fuzz\(name)",
        dependencies: modules.map { .product(name: $0, package: "AudioBridge") },
        // No top-level code: the entry point is libFuzzer's.
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    )
}

let package = Package(
    name: "AudioBridgeFuzz",
    dependencies: [.package(name: "AudioBridge", path: "..")],
    targets: [
        target("AudioSocket", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("RTP", ["AudioBridgeCore", "AudioBridgeRTP"]),
        target("TelephoneEvent", ["AudioBridgeCore", "AudioBridgeRTP"]),
        target("SRTP", ["AudioBridgeCore", "AudioBridgeRTP"]),
        target("JSON", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("Base64", ["AudioBridgeCore"]),
        target("Twilio", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("TwilioWebhook", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("OpenAIRealtime", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("Deepgram", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("ElevenLabs", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("Gemini", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("PCMStreamControl", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("ChanWebSocket", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("AudioFork", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("Inflate", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("SDP", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("SIPDigest", ["AudioBridgeCore", "AudioBridgeProtocols"]),
        target("WebSocketAssembly", ["AudioBridgeCore", "AudioBridgeProtocols"]),
    ]
)
