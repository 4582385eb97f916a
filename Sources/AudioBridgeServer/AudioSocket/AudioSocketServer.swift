// SPDX-License-Identifier: MIT
// The AudioSocket bridge server: Asterisk connects (AudioSocket() or the AudioSocket channel
// driver), sends the call's UUID, then 20 ms slin frames; each connection becomes one session
// with its own agent. Outbound audio is paced by one timer per event loop for all of its calls,
// and the same clock polls the loop's sockets (AudioSocketPoller: no NIO channel per call).
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

public struct AudioSocketServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 9092
    /// The agent, session and recording of every call (the phone side is forced to 8 kHz slin,
    /// 20 ms: AudioSocket's format; other slin rates are resampled to it).
    public var call = CallSettings()
    /// Close a connection that sends nothing for this long (Asterisk sends a frame every 20 ms).
    public var idleTimeoutSeconds: Int64 = 5
    /// The largest AudioSocket payload accepted.
    public var maximumPayload = 16_384
    /// Each call's kernel send buffer (SO_SNDBUF; Linux doubles it). Fixed rather than
    /// autotuned, so a caller that stops reading holds at most this much in the kernel (about
    /// 100 frames of 8 kHz slin) before its ticks count as stalls and the agent's audio waits in
    /// the session, instead of growing a buffer per call up to megabytes.
    public var socketSendBuffer = 16_384

    public init() {}
}

public final class AudioSocketServer: Sendable {
    public let configuration: AudioSocketServerConfiguration
    public let services: BridgeServices
    let logger: Logger
    private let group: any EventLoopGroup
    private let pacers: LoopPacers
    /// One poller per event loop, made on its loop and used only there.
    private let pollers: [NIOLoopBound<AudioSocketPoller>]
    private let listener = NIOLockedValueBox<AudioSocketListener?>(nil)
    /// Called on an event loop for every session event of every call (tests, recorders).
    let eventObserver: (@Sendable (AudioSocketUUID, SessionEvent) -> Void)?

    public init(configuration: AudioSocketServerConfiguration, group: any EventLoopGroup, services: BridgeServices = BridgeServices(),
                logger: Logger = Logger(label: "audiobridge.audiosocket"), eventObserver: (@Sendable (AudioSocketUUID, SessionEvent) -> Void)? = nil) throws {
        var configuration = configuration
        configuration.call.session.phoneCodec = .slin16
        configuration.call.session.frameMilliseconds = 20
        configuration.call = try CallAgent.validate(configuration.call)  // fail now, not per call
        self.configuration = configuration
        self.services = services
        self.group = group
        self.logger = logger
        self.eventObserver = eventObserver
        let pacers = try LoopPacers(group: group)
        self.pacers = pacers
        pollers = try group.makeIterator().map { loop in
            try loop.submit { NIOLoopBound(try AudioSocketPoller(eventLoop: loop, pacer: try pacers.pacer(on: loop)), eventLoop: loop) }.wait()
        }
        // The pollers need the server for new calls; it exists only now.
        for poller in pollers { try poller.eventLoop.submit { poller.value.server = self }.wait() }
    }

    /// Binds and starts accepting calls; returns the address it listens on.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let listener = try AudioSocketListener(host: configuration.host, port: configuration.port, sendBuffer: configuration.socketSendBuffer)
        self.listener.withLockedValue { $0 = listener }
        let pollers = self.pollers
        let next = NIOLockedValueBox(0)
        listener.start(logger: logger) { socket in
            let poller = next.withLockedValue { index in
                defer { index = (index + 1) % pollers.count }
                return pollers[index]
            }
            poller.eventLoop.execute { poller.value.adopt(socket) }
        }
        return listener.address
    }

    /// Stops accepting, hangs up every call (0x00, then close) and waits for them to end.
    public func shutdown() async {
        let listener = self.listener.withLockedValue { listener -> AudioSocketListener? in
            defer { listener = nil }
            return listener
        }
        await listener?.stop()
        for poller in pollers {
            try? await poller.eventLoop.flatSubmit { poller.value.hangUpAll() }.get()
            // The pollers and the server hold each other while it runs.
            try? await poller.eventLoop.submit { poller.value.server = nil }.get()
        }
        await pacers.stop()
    }

    /// Open connections on every loop (any thread; asks each loop).
    func connectionCount() async throws -> Int {
        var count = 0
        for poller in pollers { count += try await poller.eventLoop.submit { poller.value.connectionCount }.get() }
        return count
    }

    /// This transport's counters (any thread).
    public var snapshot: TransportCounters { services.metrics[.audioSocket].snapshot }
}
