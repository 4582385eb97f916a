// swift-tools-version: 6.1
// SPDX-License-Identifier: MIT
// AudioBridge's benchmarks, a package of their own so library users never pull benchmark
// dependencies. Run from the repository root with `make bench`.
import PackageDescription

let package = Package(
    name: "AudioBridgeBenchmarks",
    dependencies: [
        .package(name: "AudioBridge", path: ".."),
        // Only the malloc interposer trait: the default set also wants a runtime interposer.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The baseline: the same frame path in plain C (table G.711, SpeexDSP called directly,
        // a C11-atomics ring), measured in the same run.
        .target(
            name: "CReferencePipeline",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("speexdsp"), .linkedLibrary("m")]
        ),
        // N frames through either pipeline, for instruction counts under callgrind (ratio.py).
        .executableTarget(
            name: "FrameCost",
            dependencies: [
                .product(name: "AudioBridgeCore", package: "AudioBridge"),
                .product(name: "AudioBridgeTestSupport", package: "AudioBridge"),
                "CReferencePipeline",
            ]
        ),
        .executableTarget(
            name: "FramePipeline",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AudioBridgeCore", package: "AudioBridge"),
                .product(name: "AudioBridgeTestSupport", package: "AudioBridge"),
                "CReferencePipeline",
            ],
            path: "Benchmarks/FramePipeline",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ProtocolMessages",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AudioBridgeProtocols", package: "AudioBridge"),
                .product(name: "AudioBridgeCore", package: "AudioBridge"),
            ],
            path: "Benchmarks/ProtocolMessages",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SpeechDetector",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AudioBridgeCore", package: "AudioBridge"),
            ],
            path: "Benchmarks/SpeechDetector",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "RTPPath",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AudioBridgeRTP", package: "AudioBridge"),
            ],
            path: "Benchmarks/RTPPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
