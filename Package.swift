// swift-tools-version: 6.1
// SPDX-License-Identifier: MIT
import PackageDescription

// The C ABI shared library (libaudiobridge.so) must load into a C host that has no Swift
// toolchain: it links the Swift runtime statically and exports only `ab_*` through a version
// script. These flags sit on the C-ABI target alone; test bundles never link it, because a
// static runtime mixed with XCTest's dynamic one breaks (see ../shared/SWIFT_NOTES.md).
// No `-z defs`: a sanitizer build (make test-tsan) links this .so too, against runtime symbols
// only the executable provides. bindings/c/check-exports.sh catches an unresolved symbol instead
// (`ldd -r`), and abi_check loads the library with RTLD_NOW.
let exportMap = Context.packageDirectory + "/bindings/c/audiobridge.map"
let sharedLibraryLinkerFlags: [String] = [
    "-static-stdlib",
    "-Xlinker", "--version-script=\(exportMap)",
    // The SONAME moves only on an ABI break (AB_ABI_VERSION in include/audiobridge.h).
    "-Xlinker", "-soname=libaudiobridge.so.1",
]

let package = Package(
    name: "AudioBridge",
    products: [
        // Everything for Swift users in one import.
        .library(name: "AudioBridge", targets: ["AudioBridge"]),
        .library(name: "AudioBridgeCore", targets: ["AudioBridgeCore"]),
        .library(name: "AudioBridgeSession", targets: ["AudioBridgeSession"]),
        .library(name: "AudioBridgeTransports", targets: ["AudioBridgeTransports"]),
        // RTP media: packets, SRTP, RFC 4733, the jitter buffer and the RTP endpoint.
        .library(name: "AudioBridgeRTP", targets: ["AudioBridgeRTP"]),
        // The pure control-plane codecs of the server (AudioSocket, Twilio Media Streams, OpenAI
        // Realtime, FreeSWITCH, chan_websocket, JSON, WebSocket).
        .library(name: "AudioBridgeProtocols", targets: ["AudioBridgeProtocols"]),
        // The C ABI shared library; `make install` installs it as libaudiobridge.so.
        .library(name: "AudioBridgeCABI", type: .dynamic, targets: ["AudioBridgeC"]),
        .executable(name: "audiobridge", targets: ["audiobridge"]),
        // Fixtures shared by the tests and the benchmarks; not API.
        .library(name: "AudioBridgeTestSupport", targets: ["AudioBridgeTestSupport"]),
        // A local stand-in for the OpenAI Realtime endpoint, for tests and demos; not an agent.
        .executable(name: "realtime-standin", targets: ["realtime-standin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CSpeexDSP",
            pkgConfig: "speexdsp",
            providers: [.apt(["libspeexdsp-dev"])]
        ),
        // AES and SHA-1 for SRTP, from the system's OpenSSL (libssl-dev).
        .systemLibrary(
            name: "COpenSSLCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // Raw deflate for WebSocket permessage-deflate (zlib1g-dev).
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // A prefetch hint for the memory a call touches every frame (AudioBridgeCore/HotMemory).
        .systemLibrary(name: "CCacheHints"),
        .target(
            name: "AudioBridgeCore",
            dependencies: ["CSpeexDSP", "CCacheHints"]
        ),
        // Pure wire codecs of the server's control plane: bytes in, messages out; no sockets.
        // Not part of the C library.
        .target(
            name: "AudioBridgeProtocols",
            dependencies: ["AudioBridgeCore", "COpenSSLCrypto", "CZlib"]
        ),
        .target(
            name: "AudioBridgeSession",
            dependencies: ["AudioBridgeCore"]
        ),
        .target(
            name: "AudioBridgeTransports",
            dependencies: ["AudioBridgeCore", "AudioBridgeSession"]
        ),
        // RTP media for the C library and the server: links libcrypto (SRTP) and nothing of the
        // control plane.
        .target(
            name: "AudioBridgeRTP",
            dependencies: ["AudioBridgeCore", "AudioBridgeSession", "COpenSSLCrypto"]
        ),
        .target(
            name: "AudioBridge",
            dependencies: ["AudioBridgeCore", "AudioBridgeSession", "AudioBridgeTransports", "AudioBridgeRTP"]
        ),
        // The bridge server: SwiftNIO shells around the protocol codecs, one paced session per call.
        // Linux's epoll for the AudioSocket transport's own socket polling.
        .systemLibrary(name: "CEpoll"),
        // SIP signalling for `serve --sip`: sofia-sip (libsofia-sip-ua-dev) behind a small C shim,
        // since its API is varargs tag lists Swift cannot call.
        .systemLibrary(
            name: "CSofiaSIP",
            pkgConfig: "sofia-sip-ua",
            providers: [.apt(["libsofia-sip-ua-dev"])]
        ),
        .target(
            name: "CSIPUserAgent",
            dependencies: ["CSofiaSIP"]
        ),
        .target(
            name: "AudioBridgeServer",
            dependencies: [
                "AudioBridgeCore", "AudioBridgeProtocols", "AudioBridgeSession", "AudioBridgeTransports", "AudioBridgeRTP", "CEpoll", "CSIPUserAgent",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "audiobridge",
            dependencies: [
                "AudioBridgeServer", "AudioBridgeSession", "AudioBridgeTransports", "AudioBridgeProtocols", "AudioBridgeRTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // include/audiobridge.h as a Clang module, so the C ABI shims use the header's own struct
        // layouts and constants instead of Swift copies of them.
        .systemLibrary(name: "CAudioBridgeABI"),
        .target(
            name: "AudioBridgeC",
            dependencies: ["AudioBridgeCore", "AudioBridgeSession", "AudioBridgeTransports", "AudioBridgeRTP", "CAudioBridgeABI"],
            linkerSettings: [.unsafeFlags(sharedLibraryLinkerFlags)]
        ),
        .target(
            name: "AudioBridgeModelStandIn",
            dependencies: [
                "AudioBridgeCore", "AudioBridgeProtocols",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "realtime-standin",
            dependencies: ["AudioBridgeModelStandIn", "AudioBridgeProtocols"]
        ),
        .target(
            name: "AudioBridgeTestSupport",
            dependencies: ["AudioBridgeCore", "AudioBridgeSession"]
        ),
        // Counts malloc/free/mutex calls made by the calling thread; interposes libc's
        // allocator inside the test executable. Test-only.
        .target(
            name: "AllocationCounter",
            path: "Tests/AllocationCounter",
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .testTarget(
            name: "AudioBridgeProtocolsTests",
            dependencies: ["AudioBridgeProtocols", "AudioBridgeCore", "AudioBridgeTestSupport"]
        ),
        .testTarget(
            name: "AudioBridgeRTPTests",
            dependencies: ["AudioBridgeRTP", "AudioBridgeCore", "AudioBridgeSession", "AudioBridgeTransports", "AudioBridgeTestSupport", "AllocationCounter"]
        ),
        .testTarget(
            name: "AudioBridgeServerTests",
            dependencies: [
                "AudioBridgeServer", "AudioBridgeProtocols", "AudioBridgeSession", "AudioBridgeTransports", "AudioBridgeCore",
                "AudioBridgeRTP", "AudioBridgeModelStandIn", "AllocationCounter",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "AudioBridgeTests",
            dependencies: ["AudioBridge"]
        ),
        .testTarget(
            name: "AudioBridgeTransportsTests",
            dependencies: ["AudioBridgeCore", "AudioBridgeSession", "AudioBridgeTransports", "AllocationCounter"]
        ),
        .testTarget(
            name: "AudioBridgeSessionTests",
            dependencies: ["AudioBridgeCore", "AudioBridgeSession", "AudioBridgeTestSupport", "AllocationCounter"]
        ),
        .testTarget(
            name: "AudioBridgeCoreTests",
            dependencies: ["AudioBridgeCore", "AudioBridgeSession", "AudioBridgeTestSupport", "AllocationCounter"]
        ),
    ]
)
