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
    /// The agent for every call: a built-in one ("echo", "tone[:HZ[:MS]]", "wav:PATH") or
    /// "openai" (then `realtime` says how to reach the model), or a ws:// / wss:// URL (raw PCM).
    public var agent = "echo"
    public var realtime: RealtimeAgentConfiguration?
    /// For a ws:// or wss:// agent: how to reach it (its URL is the agent name).
    public var pcmStream = PCMWebSocketAgentConfiguration()
    /// The session settings (the phone side is forced to 8 kHz slin, 20 ms: AudioSocket's format).
    public var session = SessionConfiguration()
    /// Close a connection that sends nothing for this long (Asterisk sends a frame every 20 ms).
    public var idleTimeoutSeconds: Int64 = 5
    /// The largest AudioSocket payload accepted.
    public var maximumPayload = 16_384
    /// When set, one stereo WAV per call is written here (caller left, agent as heard right).
    public var recordDirectory: String?

    public init() {}
}

/// What the server has done, for logs, metrics and tests. Any thread.
public struct AudioSocketServerCounters: Sendable, Equatable {
    public var activeCalls = 0
    public var totalCalls = 0
    public var framesIn = 0
    public var framesOut = 0
    public var protocolErrors = 0
    public var dtmf = 0
    /// Committed barge-ins; pauses for a possible one, and those that resumed without one.
    public var bargeIns = 0
    public var bargeInPauses = 0
    public var bargeInResumes = 0
    /// Ticks at which a call's socket could not take its frame (the peer is not reading).
    public var sendStalls = 0
    /// Frames of agent audio that ran short (the agent side fell behind), over ended calls.
    public var underrunFrames = 0
}

public final class AudioSocketServer: Sendable {
    public let configuration: AudioSocketServerConfiguration
    let logger: Logger
    private let group: any EventLoopGroup
    private let pacers: LoopPacers
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    let calls = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])
    let counters = NIOLockedValueBox(AudioSocketServerCounters())
    /// The same figures (and per-frame processing time) as swift-metrics / Prometheus.
    public let metrics = ServerMetrics()
    /// Called on an event loop for every session event of every call (tests, recorders).
    let eventObserver: (@Sendable (AudioSocketUUID, SessionEvent) -> Void)?

    public init(configuration: AudioSocketServerConfiguration, group: any EventLoopGroup, logger: Logger = Logger(label: "audiobridge.audiosocket"),
                eventObserver: (@Sendable (AudioSocketUUID, SessionEvent) -> Void)? = nil) throws {
        var configuration = configuration
        configuration.session.phoneCodec = .slin16
        configuration.session.frameMilliseconds = 20
        configuration.session = try CallAgent.validate(configuration.agent, realtime: configuration.realtime, session: configuration.session)  // fail now, not per call
        try configuration.session.validate()
        self.configuration = configuration
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
        let open = calls.withLockedValue { Array($0.values) }
        for channel in open {
            var hangup = channel.allocator.buffer(capacity: 3)
            hangup.writeBytes([0x00, 0x00, 0x00])
            channel.writeAndFlush(hangup, promise: nil)
            try? await channel.close()
        }
        await pacers.stop()
    }

    public var snapshot: AudioSocketServerCounters {
        var snapshot = counters.withLockedValue { $0 }
        snapshot.framesIn = framesIn.load(ordering: .relaxed)
        snapshot.framesOut = framesOut.load(ordering: .relaxed)
        return snapshot
    }

    func count(_ update: (inout AudioSocketServerCounters) -> Void) { counters.withLockedValue(update) }

    // The two per-frame counters are atomics: a lock per frame per call showed up under load.
    private let framesIn = Atomic<Int>(0)
    private let framesOut = Atomic<Int>(0)

    func countFrameIn() {
        framesIn.wrappingAdd(1, ordering: .relaxed)
        metrics.framesIn.increment()
    }

    func countFrameOut() {
        framesOut.wrappingAdd(1, ordering: .relaxed)
        metrics.framesOut.increment()
    }
}
