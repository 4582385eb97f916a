// SPDX-License-Identifier: MIT
// The external-media RTP mode of the server: one UDP socket, one call. Asterisk's ARI
// externalMedia (UnicastRTP), a FreeSWITCH or a SIP trunk's media is pointed at LOCAL; we send
// to REMOTE, or — when no remote is given — back to where the media comes from (symmetric RTP,
// as Asterisk's comedia does). The NIO shell only moves datagrams: RTPEndpoint does RTP, SRTP,
// DTMF and the jitter buffer, and the loop's pacer ticks it every 20 ms.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

public struct RTPServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 40_000
    /// Where our RTP goes; nil: to the source of the first packet received.
    public var remoteHost: String?
    public var remotePort: Int?
    /// The phone codec: μ-law (PCMU, PT 0) or A-law (PCMA, PT 8).
    public var codec: PhoneCodec = .ulaw
    /// SRTP master keys (SDES form); both nil for plain RTP.
    public var srtpSendKey: SRTPMasterKey?
    public var srtpReceiveKey: SRTPMasterKey?
    public var srtpProfile: SRTPProfile = .aes128CmHmacSha1_80
    public var jitterBuffer = JitterBufferSettings()
    public var telephoneEventPayloadType: UInt8? = 101
    public var agent = "echo"
    public var realtime: RealtimeAgentConfiguration?
    public var pcmStream = PCMWebSocketAgentConfiguration()
    public var session = SessionConfiguration()

    public init() {}
}

public final class RTPServer: Sendable {
    public let configuration: RTPServerConfiguration
    let logger: Logger
    private let group: any EventLoopGroup
    private let pacers: LoopPacers
    private let channel = NIOLockedValueBox<Channel?>(nil)
    private let latest = NIOLockedValueBox(RTPEndpointStatistics())
    /// The call's figures, refreshed every second (and at shutdown). Any thread.
    public var statistics: RTPEndpointStatistics { latest.withLockedValue { $0 } }
    let metrics = ServerMetrics()
    /// Called on the event loop for every session event (tests).
    let eventObserver: (@Sendable (SessionEvent) -> Void)?

    public init(configuration: RTPServerConfiguration, group: any EventLoopGroup, logger: Logger = Logger(label: "audiobridge.rtp"),
                eventObserver: (@Sendable (SessionEvent) -> Void)? = nil) throws {
        var configuration = configuration
        guard configuration.codec != .slin16 else { throw AudioBridgeError.unsupportedCodec }
        configuration.session.phoneCodec = configuration.codec
        configuration.session.frameMilliseconds = 20
        configuration.session = try CallAgent.validate(configuration.agent, realtime: configuration.realtime, session: configuration.session)
        try configuration.session.validate()
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.eventObserver = eventObserver
        pacers = try LoopPacers(group: group)
    }

    /// Binds the RTP port and starts the call; returns the local address.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let remote = try configuration.remoteHost.map { try SocketAddress.makeAddressResolvingHost($0, port: configuration.remotePort ?? 0) }
        let bootstrap = DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pacer = try pacers.pacer(on: channel.eventLoop)
                    let call = try RTPCall(server: self, channel: channel, remote: remote, engine: pacer.engine)
                    try channel.pipeline.syncOperations.addHandler(RTPCallHandler(call: call, pacer: pacer))
                }
            }
        let bound = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        channel.withLockedValue { $0 = bound }
        return bound.localAddress!
    }

    public func shutdown() async {
        let open = channel.withLockedValue { channel -> Channel? in
            defer { channel = nil }
            return channel
        }
        try? await open?.close()
        await pacers.stop()
    }

    func publish(_ statistics: RTPEndpointStatistics) { latest.withLockedValue { $0 = statistics } }
}

/// The call: a session, its agent and the RTP endpoint, all on the socket's event loop.
final class RTPCall: PacedCall {
    let session: Session
    let endpoint: RTPEndpoint
    private let server: RTPServer
    private let channel: Channel
    private var remote: SocketAddress?
    private var sendBuffer: ByteBuffer
    private var ticks = 0
    var frameProcessingTimer: Metrics.Timer { server.metrics.frameProcessing }

    init(server: RTPServer, channel: Channel, remote: SocketAddress?, engine: Engine) throws {
        self.server = server
        self.channel = channel
        self.remote = remote
        let configuration = server.configuration
        session = try Session(configuration: configuration.session)
        var rtp = RTPEndpointConfiguration()
        rtp.payloadType = RTPEndpointConfiguration.payloadType(for: configuration.codec)
        rtp.telephoneEventPayloadType = configuration.telephoneEventPayloadType
        rtp.jitterBuffer = configuration.jitterBuffer
        rtp.srtpProfile = configuration.srtpProfile
        rtp.srtpSendKey = configuration.srtpSendKey
        rtp.srtpReceiveKey = configuration.srtpReceiveKey
        endpoint = try RTPEndpoint(session: session, configuration: rtp)
        sendBuffer = channel.allocator.buffer(capacity: RTPEndpoint.maximumPacket)
        try engine.attach(try CallAgent.make(configuration.agent, realtime: configuration.realtime, pcmStream: configuration.pcmStream,
                                              metadata: [("callId", "rtp-\(configuration.port)")], eventLoop: channel.eventLoop, logger: server.logger), to: session)
    }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 1000 }

    func receive(_ envelope: AddressedEnvelope<ByteBuffer>) {
        if remote == nil {
            remote = envelope.remoteAddress
            server.logger.info("sending RTP back to the media's source", metadata: ["remote": "\(envelope.remoteAddress)"])
        }
        let result = envelope.data.withUnsafeReadableBytes { endpoint.receive($0, arrivalMicroseconds: Self.now()) }
        if case .dropped(let error) = result {
            server.metrics.protocolErrors.increment()
            server.logger.debug("RTP packet refused: \(error.message)", metadata: ["from": "\(envelope.remoteAddress)"])
        } else {
            server.metrics.framesIn.increment()
        }
    }

    /// Every 20 ms: one frame into the session, one packet out, then the session's events.
    func sendFrame() {
        sendBuffer.clear()
        let length = sendBuffer.writeWithUnsafeMutableBytes(minimumWritableBytes: RTPEndpoint.maximumPacket) { out in
            (try? endpoint.tick(nowMicroseconds: Self.now(), into: out)) ?? 0
        }
        if length > 0, let remote, channel.isActive {
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: sendBuffer), promise: nil)
            server.metrics.framesOut.increment()
        }
        while let event = session.pollEvent() {
            switch event.kind {
            case .dtmf:
                server.metrics.dtmf.increment()
                server.logger.info("dtmf", metadata: ["digit": "\(Character(Unicode.Scalar(event.digit)))"])
            case .bargeIn:
                server.metrics.bargeIns.increment()
                server.logger.info("barge-in", metadata: ["item": "\(event.item)", "heard_ms": "\(event.heardMilliseconds)"])
            case .bargeInPending:
                server.metrics.bargeInPauses.increment()
            case .bargeInResumed:
                server.metrics.bargeInResumes.increment()
            case .transportError, .uplinkOverflow, .eventsDropped:
                server.logger.warning("session event \(event.kind)", metadata: ["code": "\(event.code)", "count": "\(event.count)"])
            default:
                server.logger.debug("session event \(event.kind)", metadata: ["item": "\(event.item)"])
            }
            server.eventObserver?(event)
        }
        ticks += 1
        if ticks % 50 == 0 { server.publish(endpoint.statistics) }
    }

    func finish() { server.publish(endpoint.statistics) }

    func socketError(_ error: Error) { server.logger.debug("RTP socket error: \(error)") }
}

final class RTPCallHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let call: RTPCall
    private let pacer: CallPacer

    init(call: RTPCall, pacer: CallPacer) {
        self.call = call
        self.pacer = pacer
    }

    func channelActive(context: ChannelHandlerContext) {
        pacer.add(call)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        call.receive(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        pacer.remove(call)
        pacer.engine.detach(call.session)
        call.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // An ICMP port-unreachable from a remote that is not listening yet: not fatal for UDP.
        call.socketError(error)
    }
}
