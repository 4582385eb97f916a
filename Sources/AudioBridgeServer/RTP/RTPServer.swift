// SPDX-License-Identifier: MIT
// The external-media RTP mode of the server: one UDP socket, one call. Asterisk's ARI
// externalMedia (UnicastRTP), a FreeSWITCH or a SIP trunk's media is pointed at LOCAL; we send
// to REMOTE, or — when no remote is given — back to where the media comes from (symmetric RTP,
// as Asterisk's comedia does). The NIO shell only moves datagrams: RTPEndpoint does RTP, SRTP,
// DTMF and the jitter buffer, and the call pipeline ticks it every 20 ms. The call starts with
// the first packet (when --max-calls or a drain allows; else packets are ignored and the
// refusal counted) and ends after `idleTimeoutSeconds` without a packet; the next packet starts
// a new one.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeRTP
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
    /// The agent, session and recording of the call.
    public var call = CallSettings()
    /// The call ends after this long without a packet.
    public var idleTimeoutSeconds: Int64 = 10

    public init() {}
}

public final class RTPServer: Sendable {
    public let configuration: RTPServerConfiguration
    public let services: BridgeServices
    let logger: Logger
    private let group: any EventLoopGroup
    private let pacers: LoopPacers
    private let channel = NIOLockedValueBox<Channel?>(nil)
    private let latest = NIOLockedValueBox(RTPEndpointStatistics())
    /// The last call's figures, published when it ends (the media path takes no lock for
    /// them). Any thread.
    public var statistics: RTPEndpointStatistics { latest.withLockedValue { $0 } }
    /// Called on the event loop for every session event (tests).
    let eventObserver: (@Sendable (SessionEvent) -> Void)?

    public init(configuration: RTPServerConfiguration, group: any EventLoopGroup, services: BridgeServices = BridgeServices(),
                logger: Logger = Logger(label: "audiobridge.rtp"), eventObserver: (@Sendable (SessionEvent) -> Void)? = nil) throws {
        var configuration = configuration
        guard configuration.codec != .slin16 else { throw AudioBridgeError.unsupportedCodec }
        configuration.call.session.phoneCodec = configuration.codec
        configuration.call.session.frameMilliseconds = 20
        configuration.call = try CallAgent.validate(configuration.call)
        self.configuration = configuration
        self.services = services
        self.group = group
        self.logger = logger
        self.eventObserver = eventObserver
        pacers = try LoopPacers(group: group)
    }

    /// Binds the RTP port; returns the local address.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let remote = try configuration.remoteHost.map { try SocketAddress.makeAddressResolvingHost($0, port: configuration.remotePort ?? 0) }
        let bootstrap = DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pacer = try pacers.pacer(on: channel.eventLoop)
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(configuration.idleTimeoutSeconds)))
                    try channel.pipeline.syncOperations.addHandler(RTPCallHandler(server: self, pacer: pacer, remote: remote))
                }
            }
        let bound = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        channel.withLockedValue { $0 = bound }
        return bound.localAddress!
    }

    /// Ends the call, if any, and closes the socket.
    public func shutdown() async {
        let open = channel.withLockedValue { channel -> Channel? in
            defer { channel = nil }
            return channel
        }
        try? await open?.close()
        await pacers.stop()
    }

    /// This transport's counters (any thread).
    public var snapshot: TransportCounters { services.metrics[.rtp].snapshot }

    func publish(_ statistics: RTPEndpointStatistics) { latest.withLockedValue { $0 = statistics } }
}

/// The RTP side of a call: the endpoint does RTP, SRTP, DTMF and the jitter buffer; this moves
/// its packets. On the socket's event loop.
final class RTPSide: PhoneSide {
    let endpoint: RTPEndpoint
    private let channel: Channel
    /// Where our packets go: `--rtp-remote`, or (symmetric RTP) the source of the first packet
    /// the endpoint took — parsed, of the agreed payload type, and authenticated with SRTP — so
    /// a stray or forged datagram cannot redirect the call's audio. Nothing is sent before.
    private(set) var remote: SocketAddress?
    /// A SIP call starts sending to the address its SDP gave and moves, once, to the source of
    /// the first packet the endpoint takes if that differs (a caller behind NAT).
    private var latchPending: Bool
    /// Signalling's hang-up (SIP's BYE); nil: RTP alone has none.
    var onHangUp: (() -> Void)?
    /// Signalling's transfer (SIP's REFER); nil: RTP alone has none.
    var onTransfer: ((String, @escaping (CallControlOutcome) -> Void) -> Void)?
    /// The caller put the call on hold: nothing is sent and the agent's audio waits.
    var isOnHold = false
    private var sendBuffer: ByteBuffer

    init(configuration: RTPServerConfiguration, session: Session, channel: Channel, remote: SocketAddress?, latchesToSource: Bool = false) throws {
        latchPending = latchesToSource
        var rtp = RTPEndpointConfiguration()
        rtp.payloadType = RTPEndpointConfiguration.payloadType(for: configuration.codec)
        rtp.telephoneEventPayloadType = configuration.telephoneEventPayloadType
        rtp.jitterBuffer = configuration.jitterBuffer
        rtp.srtpProfile = configuration.srtpProfile
        rtp.srtpSendKey = configuration.srtpSendKey
        rtp.srtpReceiveKey = configuration.srtpReceiveKey
        endpoint = try RTPEndpoint(session: session, configuration: rtp)
        self.channel = channel
        self.remote = remote
        sendBuffer = channel.allocator.buffer(capacity: RTPEndpoint.maximumPacket)
    }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 1000 }

    /// One datagram from the peer; every refusal is counted.
    func receive(_ datagram: ByteBuffer, from source: SocketAddress, call: CallPipeline) {
        let result = datagram.withUnsafeReadableBytes { endpoint.receive($0, arrivalMicroseconds: Self.now()) }
        switch result {
        case .dropped(let error):
            call.protocolError("RTP packet refused from \(source): \(error.message)")
        case .audio, .telephoneEvent, .comfortNoise:
            if remote == nil || (latchPending && remote != source) {
                remote = source
                call.logger.info("RTP: sending to \(source), the source of the first packet taken")
            }
            latchPending = false
        case .rtcp:
            break
        }
    }

    /// Signalling moved the peer (a SIP re-INVITE): send there, and latch again to the source
    /// of the next packet taken.
    func redirect(to address: SocketAddress) {
        if address != remote { latchPending = true }
        remote = address
    }

    // MARK: PhoneSide

    var isOpen: Bool { channel.isActive }
    var isWritable: Bool { channel.isWritable }
    var sendsSilence: Bool { true }
    var isHeld: Bool { isOnHold }

    /// The endpoint's tick: the caller's next frame from the jitter buffer into the session
    /// (recorded and counted here), the session's frame into a packet.
    func readFrame(for call: CallPipeline) -> UnsafeRawBufferPointer? {
        sendBuffer.clear()
        let packetLength = sendBuffer.writeWithUnsafeMutableBytes(minimumWritableBytes: RTPEndpoint.maximumPacket) { out in
            if case .success(let length) = endpoint.tick(nowMicroseconds: Self.now(), into: out) { length } else { 0 }
        }
        let exchanged = endpoint.lastTick
        call.callerFed(exchanged.caller)
        return packetLength > 0 ? exchanged.heard : nil
    }

    func send(frame: UnsafeRawBufferPointer) {
        guard let remote else { return }
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: sendBuffer), promise: nil)
    }

    /// RTP has no hang-up of its own: signalling's, if there is any (SIP's BYE); else the call
    /// simply ends.
    func hangUp() { onHangUp?() }

    var abilities: CallControlAbilities { CallControlAbilities(transfer: onTransfer != nil, sendDigits: endpoint.sendsTelephoneEvents) }

    func transfer(to target: String, completion: @escaping (CallControlOutcome) -> Void) {
        guard let onTransfer else { return completion(.refused("this phone connection cannot transfer calls")) }
        onTransfer(target, completion)
    }

    /// Each digit as RFC 4733 events for 100 ms (in place of audio, then the end packets), one
    /// every 250 ms: the endpoint sends one digit at a time.
    func sendDigits(_ digits: String) -> CallControlOutcome {
        guard endpoint.sendsTelephoneEvents else { return .refused("this RTP call has no telephone-event payload type") }
        let endpoint = endpoint
        for (index, digit) in digits.utf8.enumerated() {
            channel.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(index) * 250)) { _ = endpoint.sendDigit(digit) }
        }
        return .done("sending \(digits) as RFC 4733 events")
    }
}

/// The socket's handler: starts a call with the first packet, feeds it, ends it when the
/// packets stop.
final class RTPCallHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let server: RTPServer
    private let pacer: CallPacer
    private let configuredRemote: SocketAddress?
    private var side: RTPSide?
    private var call: CallPipeline?
    private var refusing = false
    private var calls = 0
    private var metrics: TransportMetrics { server.services.metrics[.rtp] }

    init(server: RTPServer, pacer: CallPacer, remote: SocketAddress?) {
        self.server = server
        self.pacer = pacer
        configuredRemote = remote
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        if call == nil { start(first: envelope, context: context) }
        guard let call, let side else { return }
        side.receive(envelope.data, from: envelope.remoteAddress, call: call)
    }

    private func start(first envelope: AddressedEnvelope<ByteBuffer>, context: ChannelHandlerContext) {
        // Only an RTP packet starts a call (an SRTP packet's header parses as RTP too); where
        // ours go is latched later, on the first packet the endpoint takes (RTPSide.remote).
        let isRTP = envelope.data.withUnsafeReadableBytes { bytes in
            if case .success = RTPPacketView.read(bytes) { true } else { false }
        }
        guard isRTP else {
            metrics.add(.protocolErrors)
            server.logger.info("not RTP: ignored", metadata: ["from": "\(envelope.remoteAddress)"])
            return
        }
        if let refusal = server.services.admission.admit() {
            // RTP's refusal: the packets are ignored; counted once per call that wanted to start.
            if !refusing {
                metrics.count(refusal)
                server.logger.notice("RTP call refused: \(refusal == .atLimit ? "at --max-calls" : "draining")", metadata: ["from": "\(envelope.remoteAddress)"])
            }
            refusing = true
            return
        }
        refusing = false
        let remote = configuredRemote
        calls += 1
        let configuration = server.configuration
        do {
            let observer = server.eventObserver.map { observe in { (event: SessionEvent) in observe(event) } }
            let channel = context.channel
            let pipeline = try CallPipeline(side: { [server] session in try RTPSide(configuration: server.configuration, session: session, channel: channel, remote: remote) }, callID: "rtp-\(configuration.port)-\(calls)", session: configuration.call.session,
                                            settings: configuration.call, metadata: [("callId", "rtp-\(configuration.port)-\(calls)")], services: server.services,
                                            transport: .rtp, pacer: pacer, eventLoop: context.eventLoop, logger: server.logger, observer: observer)
            side = pipeline.side as? RTPSide
            call = pipeline
            pipeline.logger.info("RTP call", metadata: ["remote": "\(remote.map { "\($0)" } ?? "latched from the first packet taken")", "first": "\(envelope.remoteAddress)"])
        } catch {
            server.logger.error("RTP call could not start: \(error)")
        }
    }

    private func end(reason: String) {
        if let side { server.publish(side.endpoint.statistics) }
        call?.end(reason: reason)
        call = nil
        side = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if call != nil { end(reason: "no RTP for \(server.configuration.idleTimeoutSeconds) s") }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(reason: "socket closed")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // An ICMP port-unreachable from a remote that is not listening yet: not fatal for UDP.
        server.logger.debug("RTP socket error: \(error)")
    }
}
