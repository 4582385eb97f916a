// SPDX-License-Identifier: MIT
// The AudioSocket bridge server: Asterisk connects (AudioSocket() or the AudioSocket channel
// driver), sends the call's UUID, then 20 ms slin frames; each connection becomes one session
// with its own agent. Outbound audio is paced by one timer per event loop for all of its calls.
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

    public init() {}
}

public final class AudioSocketServer: Sendable {
    public let configuration: AudioSocketServerConfiguration
    public let services: BridgeServices
    let logger: Logger
    private let group: any EventLoopGroup
    private let pacers: LoopPacers
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    let connections = ConnectionRegistry()
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
        pacers = try LoopPacers(group: group)
    }

    /// Binds and starts accepting calls; returns the address it listens on.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pacer = try self.pacers.pacer(on: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(configuration.idleTimeoutSeconds)))
                    try channel.pipeline.syncOperations.addHandler(AudioSocketCallHandler(server: self, pacer: pacer))
                }
            }
        let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        serverChannel.withLockedValue { $0 = channel }
        return channel.localAddress!
    }

    /// Stops accepting, hangs up every call (0x00, then close) and waits for them to end.
    public func shutdown() async {
        let listener = serverChannel.withLockedValue { channel -> Channel? in
            defer { channel = nil }
            return channel
        }
        try? await listener?.close()
        for channel in connections.all {
            AudioSocketSide.hangUp(channel)
            try? await channel.closeFuture.get()
        }
        await pacers.stop()
    }

    /// This transport's counters (any thread).
    public var snapshot: TransportCounters { services.metrics[.audioSocket].snapshot }
}
