// SPDX-License-Identifier: MIT
import AudioBridgeModelStandIn
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Testing
@testable import AudioBridgeServer

/// Every way an agent's connection fails or ends is reported with its cause, for the log line
/// an operator reads: TCP, TLS verification, the HTTP status of a refused upgrade (with the
/// reason the server gives), the server's close code and reason, and a close without one.
@Suite(.serialized)
struct WebSocketClientFailureTests {
    final class CauseRecorder: WebSocketClientDelegate, Sendable {
        let state = NIOLockedValueBox<(opened: Bool, cause: String?)>((false, nil))
        func webSocketOpened() { state.withLockedValue { $0.opened = true } }
        func webSocketReceived(text: [UInt8]) {}
        func webSocketReceived(binary: ByteBuffer) {}
        func webSocketProtocolError(_ error: Error) {}
        func webSocketClosed(cause: String) { state.withLockedValue { $0.cause = $0.cause ?? cause } }
    }

    /// Connects to `url` from an event loop group of its own (the caller shuts it down) and waits
    /// up to 3 s for the connection to open or fail.
    static func open(_ url: String, trust: [UInt8]? = nil) async throws
        -> (group: MultiThreadedEventLoopGroup, loop: any EventLoop, client: WebSocketClient, recorder: CauseRecorder) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let recorder = CauseRecorder()
        let loop = group.next()
        let client = try await loop.submit {
            WebSocketClient.connect(url: ServerURL.webSocket(url)!, headers: [], additionalTrustRootsPEM: trust, maximumMessageBytes: 1 << 16,
                                    eventLoop: loop, timeout: .seconds(5), delegate: recorder)
        }.get()
        for _ in 0..<300 where recorder.state.withLockedValue({ !$0.opened && $0.cause == nil }) { try await Task.sleep(for: .milliseconds(10)) }
        return (group, loop, client, recorder)
    }

    /// Connects to `url` and returns the cause the delegate heard (after `whileOpen` ran on the
    /// open connection, if it opened).
    static func cause(of url: String, trust: [UInt8]? = nil, whileOpen: () -> Void = {}) async throws -> (opened: Bool, cause: String?) {
        let (group, _, client, recorder) = try await open(url, trust: trust)
        if recorder.state.withLockedValue({ $0.opened }) { whileOpen() }
        for _ in 0..<300 where recorder.state.withLockedValue({ $0.cause == nil }) { try await Task.sleep(for: .milliseconds(10)) }
        _ = client
        try await group.shutdownGracefully()
        return recorder.state.withLockedValue { $0 }
    }

    @Test func aRefusedTCPConnectionSaysSo() async throws {
        // A port that was just free: nothing listens there.
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress!.port!
        try await probe.close()
        let result = try await Self.cause(of: "ws://127.0.0.1:\(port)/")
        #expect(!result.opened)
        #expect(result.cause?.hasPrefix("TCP: [IPv4]127.0.0.1/127.0.0.1:\(port): ") == true && result.cause?.contains("refused") == true, "\(result.cause ?? "-")")
    }

    @Test func anUntrustedCertificateIsATLSFailure() async throws {
        let (certificate, key) = try RealtimeAgentTests.selfSignedCertificate()
        var options = RealtimeModelStandIn.Options()
        options.certificatePEM = certificate
        options.keyPEM = key
        let fake = try await RealtimeModelStandIn(options: options)
        let result = try await Self.cause(of: fake.url)
        #expect(!result.opened)
        #expect(result.cause?.hasPrefix("TLS: ") == true && result.cause?.contains("CERTIFICATE_VERIFY_FAILED") == true, "\(result.cause ?? "-")")
        let trusted = try await Self.cause(of: fake.url, trust: certificate) { fake.dropConnection(code: 1000, reason: "bye") }
        #expect(trusted.opened && trusted.cause == "closed by the server: 1000 bye", "\(trusted.cause ?? "-")")
        try await fake.stop()
    }

    @Test func aRefusedUpgradeReportsItsStatusAndReason() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Refuser()) } }
            .bind(host: "127.0.0.1", port: 0).get()
        let result = try await Self.cause(of: "ws://127.0.0.1:\(server.localAddress!.port!)/v1/realtime")
        #expect(!result.opened)
        #expect(result.cause == #"HTTP 401 Unauthorized on the upgrade: Bearer realm="model" {"error":"invalid_api_key"}"#, "\(result.cause ?? "-")")
        try await server.close()
    }

    @Test func theServersCloseCodeOrItsAbsenceIsTheCause() async throws {
        let fake = try await RealtimeModelStandIn()
        let coded = try await Self.cause(of: fake.url) { fake.dropConnection(code: 1011, reason: "overloaded") }
        #expect(coded.opened && coded.cause == "closed by the server: 1011 overloaded", "\(coded.cause ?? "-")")
        let abrupt = try await Self.cause(of: fake.url) { fake.dropConnection() }
        #expect(abrupt.opened && abrupt.cause == "the connection ended without a close frame", "\(abrupt.cause ?? "-")")
        try await fake.stop()
    }

    /// An agent that accepts the upgrade and then stops reading is given up once our messages
    /// have waited `WebSocketClientHandler.unreadLimit` (5 s), with that cause; one that stops for
    /// 2 s and then reads again keeps its connection past the limit.
    @Test func anAgentThatStopsReadingIsGivenUpAfterTheUnreadLimit() async throws {
        let hung = try await Self.agentThatStopsReading(resumingAfter: nil)
        let given = try await Self.flood(port: hung.localAddress!.port!, watching: .seconds(9))
        #expect(given.cause == "the agent stopped reading: our messages waited 5 s", "\(given.cause ?? "-")")
        #expect(given.after >= .seconds(5) && given.after < .seconds(8), "\(given.after)")
        try await hung.close()

        let slow = try await Self.agentThatStopsReading(resumingAfter: .seconds(2))
        let kept = try await Self.flood(port: slow.localAddress!.port!, watching: .seconds(7))
        #expect(kept.cause == nil, "\(kept.cause ?? "-")")
        try await slow.close()
    }

    /// Opens a connection to 127.0.0.1:`port`, writes 2 MiB of binary messages at once (far past
    /// the kernel's buffers and NIO's high-water mark), and waits up to `watching` for the
    /// connection to end: its cause (nil if it did not end) and when it came after the writes.
    static func flood(port: Int, watching: Duration) async throws -> (cause: String?, after: Duration) {
        let (group, loop, client, recorder) = try await open("ws://127.0.0.1:\(port)/")
        #expect(recorder.state.withLockedValue { $0.opened })
        let clock = ContinuousClock()
        let start = clock.now
        try await loop.submit { for _ in 0..<64 { client.send(binary: [UInt8](repeating: 0x55, count: 32_768)) } }.get()
        while recorder.state.withLockedValue({ $0.cause == nil }), clock.now - start < watching { try await Task.sleep(for: .milliseconds(20)) }
        let after = clock.now - start
        let cause = recorder.state.withLockedValue { $0.cause }  // before our own close adds one
        try await loop.submit { client.close() }.get()
        try await group.shutdownGracefully()
        return (cause, after)
    }

    /// A WebSocket server on 127.0.0.1 that answers the upgrade and then reads nothing more, for
    /// good or until `resumingAfter` has passed. (Its receive buffer keeps the kernel's default:
    /// one made small after the handshake would leave a loopback window of a few KiB per delayed
    /// ACK, a reader too slow to ever drain the flood.)
    static func agentThatStopsReading(resumingAfter pause: TimeAmount?) async throws -> Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 16,
                    shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                    upgradePipelineHandler: { channel, _ in
                        // The frames read once reading resumes reach the pipeline's end and are dropped.
                        if let pause { channel.eventLoop.scheduleTask(in: pause) { channel.setOption(.autoRead, value: true).whenComplete { _ in } } }
                        return channel.setOption(.autoRead, value: false)
                    })
                return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// Answers any request with a 401 and a JSON body, as a model service does for a bad key.
    final class Refuser: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let body = #"{"error":"invalid_api_key"}"#
            let response = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"model\"\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: response)), promise: nil)
        }
    }
}

/// --agent-header and --agent-ca-file as the server checks them at start.
struct AgentConnectionOptionsTests {
    @Test func headersAreTokensWithAValueAndNoLineBreak() {
        #expect(AgentConnectionOptions.header("api-key: abc123") ?? ("", "") == ("api-key", "abc123"))
        #expect(AgentConnectionOptions.header("X-Gateway-Token:\t v=1; p=2 \t") ?? ("", "") == ("X-Gateway-Token", "v=1; p=2"))
        #expect(AgentConnectionOptions.header("Empty:") ?? ("?", "?") == ("Empty", ""))
        for bad in ["no colon", ": value", "Bad Name: v", "Name(x): v", "A: b\r\nInjected: yes", "A: b\nc", "Ä: v"] {
            #expect(AgentConnectionOptions.header(bad) == nil, "\(bad)")
        }
        // Every printable ASCII character alone as a name: exactly RFC 9110's tchar are accepted.
        let tchar = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for code in 0x21...0x7E where code != 0x3A {
            let character = Character(Unicode.Scalar(UInt8(code)))
            #expect((AgentConnectionOptions.header("\(character): v") != nil) == tchar.contains(character), "\(character)")
        }
    }

    @Test func aCAFileMustHoldACertificate() throws {
        let (certificate, key) = try RealtimeAgentTests.selfSignedCertificate()
        #expect(try AgentConnectionOptions.certificateCount(pem: certificate) == 1)
        #expect(try AgentConnectionOptions.certificateCount(pem: certificate + certificate) == 2)
        #expect(throws: (any Error).self) { try AgentConnectionOptions.certificateCount(pem: key) }
        #expect(throws: (any Error).self) { try AgentConnectionOptions.certificateCount(pem: Array("not a certificate".utf8)) }
    }
}

/// The URLs the bridge dials, parsed once for agents (ws/wss) and for webhooks and APIs (http/https).
struct ServerURLTests {
    @Test func schemesPortsHostsAndTargets() {
        #expect(ServerURL.webSocket("wss://api.openai.com/v1/realtime?model=m") == ServerURL.http("https://api.openai.com/v1/realtime?model=m"))
        let agent = ServerURL.webSocket("ws://[::1]:8765?x=1")
        #expect(agent?.tls == false && agent?.host == "::1" && agent?.port == 8765 && agent?.target == "/?x=1" && agent?.hostIsAddress == true)
        #expect(agent?.hostHeader == "::1:8765")
        let api = ServerURL.http("https://api.twilio.com")
        #expect(api?.port == 443 && api?.target == "/" && api?.hostHeader == "api.twilio.com" && api?.hostIsAddress == false)
        #expect(api?.appending(path: "/2010-04-01/Accounts/AC1/Calls/CA1.json").target == "/2010-04-01/Accounts/AC1/Calls/CA1.json")
        #expect(ServerURL.http("http://127.0.0.1:8080/base/")?.appending(path: "/x").target == "/base/x")
        for bad in ["http://host/", "wss://", "ws://:80/", "ws://host:0/", "ws://host:65536/", "ws://host:x/", "ws://user@host/", "ftp://host/"] {
            #expect(ServerURL.webSocket(bad) == nil, "\(bad)")
        }
        #expect(ServerURL.http("ws://host/") == nil && ServerURL.http("https://host:99999") == nil)
    }
}
