// SPDX-License-Identifier: MIT
// One SIP call, either way: its RTP socket (a port of the pool), its RTP side and pipeline,
// what its SDP agreed, and its sofia-sip handle until it is released. A call that comes in is
// made on the user agent's thread when the INVITE comes (port bound, answer written) and starts
// (pipeline, and so agent) when it is answered: at once, or after `--sip-ring-ms` of ringing,
// during which a CANCEL ends it. A call we place is made with our offer and starts when the
// callee's answer comes. Everything else runs on the call's event loop, except a re-INVITE's
// answer, made on the user agent's thread from the call's fixed fields and applied on the loop.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeRTP
import AudioBridgeSession
import CSIPUserAgent
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// How a call we placed went, as `SIPServer.place` reports it.
public enum PlacedCallOutcome: Equatable, Sendable {
    case answered(callID: String)
    /// The SIP status that refused it (408 when nothing answered, 488 for an unusable answer).
    case failed(status: Int, reason: String)
}

final class SIPCall: @unchecked Sendable {
    /// sofia-sip's handle (a `sipua_call_t *`), valid until `SIPServer.forget` releases it; set
    /// once (at once for a call that came in, when the INVITE has gone out for one we place).
    private let handleBox = NIOLockedValueBox<SIPHandle?>(nil)
    var handle: OpaquePointer? { handleBox.withLockedValue { $0?.pointer } }
    let eventLoop: any EventLoop
    let callID: String
    /// Our SDP: the answer to a caller's offer, or the offer of a call we place.
    let localSDP: String
    private unowned let server: SIPServer
    private let channel: Channel
    private let port: Int
    private let localKey: SRTPMasterKey
    private let sessionID: UInt64
    /// The o= version of our last SDP (the user agent's thread).
    private let sessionVersion = NIOLockedValueBox<UInt64>(1)
    /// Who called (their From URI), or whom we call: a transfer to a bare number goes to its host.
    private let peerURI: String
    /// The Request-URI's user of a call that came in: the number called, which may choose the
    /// agent (`routes`).
    private let calledUser: String
    private let metadata: [(String, String)]
    /// The codecs a caller's offer listed, for the log ("opus/48000 PCMU/8000 …"); "" for a
    /// call we place.
    private var offered = ""

    struct SIPHandle: @unchecked Sendable { let pointer: OpaquePointer }

    /// What the SDP exchange agreed, and so how the call's RTP runs.
    private struct Agreement {
        var audio: NegotiatedAudio
        var rtp: RTPServerConfiguration
        var remote: SocketAddress?
    }

    // On the event loop:
    private var agreement: Agreement?
    private var side: RTPSide?
    private var pipeline: CallPipeline?
    private(set) var sentBye = false
    /// The 200 OK went out (a call that came in) or came (one we placed).
    var answered = false
    private var declining = false
    private var finished = false
    private var pendingTransfer: (target: String, completion: (CallControlOutcome) -> Void)?
    /// The call holds its admission place until its pipeline takes it over (or it ends first).
    private var holdsAdmission = true
    /// A call we place: told how it went, once; and whether its challenge was answered already.
    private var placement: EventLoopPromise<PlacedCallOutcome>?
    private var authenticated = false
    /// A call we placed (set at creation; `placement` is cleared once it has been reported).
    private var isPlaced = false

    private init(server: SIPServer, callID: String, eventLoop: any EventLoop, peerURI: String, calledUser: String, metadata: [(String, String)],
                 makeSDP: (SDPAnswerer.Local) throws -> (String, NegotiatedAudio?)) throws {
        self.server = server
        self.callID = callID
        self.eventLoop = eventLoop
        self.peerURI = peerURI
        self.calledUser = calledUser
        self.metadata = metadata
        var random = SystemRandomNumberGenerator()
        localKey = SRTPMasterKey(keyAndSalt: (0..<(SRTPMasterKey.keyLength + SRTPMasterKey.saltLength)).map { _ in random.next() })!
        sessionID = random.next() >> 1
        do {
            let timeout = TimeAmount.seconds(server.configuration.mediaTimeoutSeconds)
            (channel, port) = try server.bindRTP(on: eventLoop) { [IdleStateHandler(readTimeout: timeout), SIPMediaHandler()] }
            do {
                let audio: NegotiatedAudio?
                (localSDP, audio) = try makeSDP(server.localDescription(port: port, key: localKey.sdes, sessionID: sessionID))
                agreement = try audio.map { try Self.agreement($0, localKey: localKey, server: server.configuration) }
            } catch {
                channel.close(promise: nil)
                server.releasePort(port)
                throw error
            }
        } catch {
            server.services.admission.release()
            throw error
        }
    }

    /// A call that came in: binds its RTP port and answers `offer`; it starts with `start()`.
    /// Without an offer (a late offer) our 200 carries an offer instead, and the call starts
    /// when the ACK brings the answer (`acknowledged`). Throws (with the admission released) if
    /// it cannot.
    convenience init(server: SIPServer, handle: OpaquePointer, offer: SessionDescription?, invite: SIPInvite, callID: String, eventLoop: any EventLoop) throws {
        let wanted = Set(server.configuration.metadataHeaders.map { $0.lowercased() })
        let metadata = [("callId", callID), ("direction", "inbound"), ("caller", invite.from), ("callerName", invite.fromDisplay),
                        ("called", invite.requestUser), ("sipCallId", invite.callID)]
            + invite.otherHeaders.filter { wanted.contains($0.0.lowercased()) }
        try self.init(server: server, callID: callID, eventLoop: eventLoop, peerURI: invite.from, calledUser: invite.requestUser, metadata: metadata) { local in
            guard let offer else { return (SDPOfferer.offer(local: local, srtp: server.configuration.srtp == .required), nil) }
            let (audio, sdp) = try SDPAnswerer.answer(offer, local: local, srtp: server.configuration.srtp)
            return (sdp, audio)
        }
        handleBox.withLockedValue { $0 = SIPHandle(pointer: handle) }
        guard let offer else { return }
        offered = offer.media.filter { $0.kind == "audio" }.flatMap { line in
            line.formats.map { format in
                UInt8(format).flatMap { line.encoding(of: $0) }.map { "\($0.name)/\($0.clockRate)" } ?? format
            }
        }.joined(separator: " ")
    }

    /// A call we place to `target` (a SIP URI): binds its RTP port and writes the offer; it
    /// starts when the answer comes (`outgoingResponse`), and `placement` is told how it went.
    convenience init(server: SIPServer, target: String, callID: String, eventLoop: any EventLoop, placement: EventLoopPromise<PlacedCallOutcome>) throws {
        let metadata = [("callId", callID), ("direction", "outbound"), ("called", target)]
        try self.init(server: server, callID: callID, eventLoop: eventLoop, peerURI: target, calledUser: "", metadata: metadata) { local in
            (SDPOfferer.offer(local: local, srtp: server.configuration.srtp == .required), nil)
        }
        self.placement = placement
        isPlaced = true
    }

    /// The handle of a call we placed, once its INVITE has gone out.
    func placed(as handle: OpaquePointer) { handleBox.withLockedValue { $0 = SIPHandle(pointer: handle) } }

    /// Starts the call's pipeline (and so its agent). On the event loop; throws if the call
    /// cannot start, after which only `finish` is called.
    func start() throws {
        guard !finished, let agreement else { throw ChannelError.alreadyClosed }
        var settings = server.configuration.routes[calledUser] ?? server.configuration.call
        settings.session.phoneCodec = agreement.rtp.codec
        holdsAdmission = false  // CallPipeline's now, released by it even if it fails
        let pipeline = try CallPipeline(side: { [self] session in
            let side = try RTPSide(configuration: agreement.rtp, session: session, channel: channel, remote: agreement.remote, latchesToSource: true)
            side.onHangUp = { [weak self] in self?.hangUp() }
            side.onTransfer = { [weak self] target, completion in
                guard let self else { return completion(.refused("the call is already over")) }
                transfer(to: target, completion: completion)
            }
            side.isOnHold = agreement.audio.isOnHold
            return side
        }, callID: callID, session: settings.session, settings: settings, metadata: metadata, services: server.services, transport: .sip,
           pacer: try server.pacer(on: eventLoop), eventLoop: eventLoop, logger: server.logger, observer: server.eventObserver.map { observe in { observe($0) } })
        self.pipeline = pipeline
        side = pipeline.side as? RTPSide
        try channel.pipeline.syncOperations.handler(type: SIPMediaHandler.self).call = self
        pipeline.logger.info("SIP call answered", metadata: ["codec": "\(agreement.audio.law)", "offered": "\(offered)", "rtp_port": "\(port)",
                                                              "remote": "\(agreement.remote.map { "\($0)" } ?? "none (on hold)")",
                                                              "srtp": "\(agreement.audio.remoteCrypto?.suite ?? "no")"])
    }

    /// A call that came in without an offer, whose answer (in the ACK) has not come yet.
    var awaitsAnswer: Bool { agreement == nil && !isPlaced }

    /// After ringing: starts the call (unless it waits for the ACK's answer) and sends the 200
    /// OK, or declines it if it cannot start.
    func answerAfterRinging() {
        guard !finished else { return }
        do {
            if !awaitsAnswer { try start() }
            answered = true
            if !server.answer(self) { finish(reason: "SIP stopped before the answer") }
        } catch {
            server.logger.error("SIP call could not start (500): \(error)", metadata: ["call": "\(callID)"])
            declining = true
            if !server.decline(self, status: 500) { finish(reason: "could not start") }
        }
    }

    /// The ACK of our 200: for a late offer, it carries the answer, and the call starts; an ACK
    /// without one, or with one we cannot use, is hung up (BYE), as RFC 3261 §13.3.1.4 has it.
    /// Other ACKs carry nothing for us. On the event loop.
    func acknowledged(sdp: String) {
        guard !finished, answered, awaitsAnswer else { return }
        do {
            guard !sdp.isEmpty else { throw SDPNegotiationError.notAcceptable("the ACK carries no answer to our offer") }
            let audio = try SDPOfferer.agreed(answer: try SessionDescription(parsing: sdp), offeredSRTP: server.configuration.srtp == .required)
            agreement = try Self.agreement(audio, localKey: localKey, server: server.configuration)
            try start()
        } catch {
            server.metrics.add(.protocolErrors)
            server.logger.warning("SIP late offer: the ACK's answer cannot be used, hanging up", metadata: ["call": "\(callID)", "error": "\(error)"])
            hangUp()
        }
    }

    // MARK: A call we placed (on the event loop)

    /// A response to our INVITE: progress, the answer (the call starts), or a refusal.
    func outgoingResponse(status: Int, sdp: String) {
        guard !finished else { return }
        switch status {
        case ..<200:
            server.logger.info("SIP call progress", metadata: ["call": "\(callID)", "status": "\(status)"])
        case 200..<300:
            guard !answered else { return }
            answered = true
            do {
                let audio = try SDPOfferer.agreed(answer: try SessionDescription(parsing: sdp), offeredSRTP: server.configuration.srtp == .required)
                agreement = try Self.agreement(audio, localKey: localKey, server: server.configuration)
                try start()
                report(.answered(callID: callID))
            } catch {
                server.logger.warning("SIP call answered with SDP we cannot use: hanging up", metadata: ["call": "\(callID)", "error": "\(error)"])
                report(.failed(status: 488, reason: "the answer's SDP: \(error)"))
                hangUp()
            }
        default:
            report(.failed(status: status, reason: "refused by the callee"))
        }
    }

    /// Our INVITE was challenged: answered once with the trunk's credentials, if there are any.
    func challenged(realm: String) {
        guard !finished, !authenticated, let (user, password) = server.configuration.outboundCredentials else {
            report(.failed(status: 401, reason: authenticated ? "the credentials were refused" : "authentication asked for, and no --sip-trunk-auth"))
            return
        }
        authenticated = true
        _ = server.authenticate(self, credentials: "Digest:\(realm):\(user):\(password)")
    }

    /// A call we placed that nobody answered in time: CANCELled, and reported as such.
    func notAnswered(within seconds: Int64) {
        guard !answered, !finished else { return }
        report(.failed(status: 408, reason: "not answered within \(seconds) s"))
        hangUp()
    }

    private func report(_ outcome: PlacedCallOutcome) {
        placement?.succeed(outcome)
        placement = nil
    }

    /// The RTP endpoint's settings and the peer's address for what the SDP agreed.
    private static func agreement(_ audio: NegotiatedAudio, localKey: SRTPMasterKey, server: SIPServerConfiguration) throws -> Agreement {
        var rtp = RTPServerConfiguration()
        rtp.codec = audio.law == .ulaw ? .ulaw : .alaw
        rtp.telephoneEventPayloadType = audio.telephoneEventPayloadType
        rtp.jitterBuffer = server.jitterBuffer
        if let crypto = audio.remoteCrypto {
            rtp.srtpSendKey = localKey
            rtp.srtpReceiveKey = try SRTPMasterKey(sdes: crypto.inlineKey)
            rtp.srtpProfile = crypto.suite == SRTPProfile.aes128CmHmacSha1_32.sdesName ? .aes128CmHmacSha1_32 : .aes128CmHmacSha1_80
        }
        return Agreement(audio: audio, rtp: rtp, remote: try address(of: audio))
    }

    /// Where the SDP says to send; nil for the old hold address (0.0.0.0).
    private static func address(of audio: NegotiatedAudio) throws -> SocketAddress? {
        audio.remote.isUnspecified ? nil : try SocketAddress.makeAddressResolvingHost(audio.remote.address, port: audio.remotePort)
    }

    // MARK: On the event loop

    func receive(_ envelope: AddressedEnvelope<ByteBuffer>) {
        guard let side, let pipeline else { return }
        side.receive(envelope.data, from: envelope.remoteAddress, call: pipeline)
    }

    /// Our hang-up: the agent ended the call, or the server is shutting down, or a call we
    /// placed was not answered in time. The call ends when sofia-sip says the BYE is done (or at
    /// once if SIP has already stopped); a call still ringing is declined with 480 if it came
    /// in, CANCELled if we placed it.
    func hangUp() {
        guard !sentBye, !declining, !finished else { return }
        if answered {
            sentBye = server.bye(self)
            if !sentBye { finish(reason: "hung up (SIP stopped)") }
        } else {
            declining = true
            let given = placement != nil || isPlaced ? server.cancel(self) : server.decline(self, status: 480)
            if !given { finish(reason: "given up (SIP stopped)") }
        }
    }

    /// A blind transfer (REFER); the outcome comes when the target has answered (NOTIFY), and
    /// after a successful one we hang up, as RFC 5589 has the transferor do.
    func transfer(to target: String, completion: @escaping (CallControlOutcome) -> Void) {
        guard pendingTransfer == nil else { return completion(.refused("a transfer is already under way")) }
        guard let uri = SIPReferTarget.uri(for: target, callerURI: peerURI) else {
            return completion(.refused("not a SIP URI or a phone number: \(target)"))
        }
        pendingTransfer = (uri, completion)
        if !server.refer(self, to: uri) {
            pendingTransfer = nil
            completion(.refused("SIP has stopped"))
        }
    }

    func transferProgress(status: Int, final: Bool) {
        guard let (target, completion) = pendingTransfer else { return }
        pipeline?.logger.info("SIP transfer", metadata: ["target": "\(target)", "status": "\(status)", "final": "\(final)"])
        guard final else { return }
        pendingTransfer = nil
        if (200..<300).contains(status) {
            completion(.done("transferred to \(target)"))
            hangUp()
        } else {
            completion(.refused("the transfer to \(target) failed with \(status)"))
        }
    }

    /// No RTP for `mediaTimeoutSeconds`: a caller that vanished without a BYE is hung up,
    /// except on hold, where silence on the wire is what was agreed.
    func mediaStopped() {
        guard let side, !side.isOnHold else { return }
        pipeline?.logger.notice("no RTP for \(server.configuration.mediaTimeoutSeconds) s: hanging up")
        hangUp()
    }

    /// The call is over: the pipeline ends, the port goes back, sofia-sip's handle is released
    /// (unless sofia-sip keeps it: a call refused in the INVITE's own callback, never bound).
    func finish(reason: String, releasingHandle: Bool = true) {
        guard !finished else { return }
        finished = true
        if holdsAdmission {
            holdsAdmission = false
            server.services.admission.release()
            server.logger.info("SIP call ended before it started", metadata: ["call": "\(callID)", "reason": "\(reason)"])
        }
        report(.failed(status: 408, reason: reason))
        if let side, let pipeline { logMedia(side.endpoint.statistics, to: pipeline.logger) }
        pipeline?.end(reason: reason)
        pipeline = nil
        side = nil
        channel.close(promise: nil)
        server.releasePort(port)
        server.forget(self, releasingHandle: releasingHandle)
    }

    /// What the caller's RTP went through, so a gap in what the agent heard has a count behind it.
    private func logMedia(_ s: RTPEndpointStatistics, to logger: Logger) {
        logger.info("SIP call media", metadata: [
            "packets_in": "\(s.packetsReceived)", "packets_out": "\(s.packetsSent)", "lost": "\(s.cumulativeLost)",
            "late": "\(s.jitterBuffer.late)", "concealed": "\(s.jitterBuffer.framesConcealed)",
            "skipped": "\(s.jitterBuffer.framesSkipped)", "repeated": "\(s.jitterBuffer.framesRepeated)",
            "refused": "\(s.refused)", "digits": "\(s.digitsReceived)"])
    }

    // MARK: A re-INVITE (the user agent's thread)

    /// Hold, resume, a new address or a new G.711 law (the RTP endpoint transcodes to the law the
    /// call's session was made with); a new SRTP key is refused with 488 and the call goes on
    /// as it was.
    func reinvite(offer text: String) -> SIPReply {
        let offer: SessionDescription
        do {
            offer = try SessionDescription(parsing: text)
        } catch {
            server.logger.notice("re-INVITE refused (400): \(error.message)", metadata: ["call": "\(callID)"])
            return SIPReply(status: 400)
        }
        let version = sessionVersion.withLockedValue { version -> UInt64 in version += 1; return version }
        let agreed: (audio: NegotiatedAudio, sdp: String)
        let remote: SocketAddress?
        do {
            agreed = try SDPAnswerer.answer(offer, local: server.localDescription(port: port, key: localKey.sdes, version: version, sessionID: sessionID),
                                            srtp: server.configuration.srtp)
            remote = try Self.address(of: agreed.audio)
        } catch {
            server.logger.notice("re-INVITE refused (488): \(error)", metadata: ["call": "\(callID)"])
            return SIPReply(status: 488)
        }
        let applied = try? eventLoop.submit { [self] () -> Bool in
            guard let side, let current = agreement?.audio, agreed.audio.remoteCrypto?.inlineKey == current.remoteCrypto?.inlineKey else { return false }
            if agreed.audio.law != current.law {
                guard case .success = side.endpoint.changeWireCodec(to: agreed.audio.law == .ulaw ? .ulaw : .alaw) else { return false }
            }
            agreement?.audio = agreed.audio
            side.isOnHold = agreed.audio.isOnHold
            if let remote { side.redirect(to: remote) }
            pipeline?.logger.info("SIP re-INVITE", metadata: ["codec": "\(agreed.audio.law)", "direction": "\(agreed.audio.direction)",
                                                               "on_hold": "\(agreed.audio.isOnHold)"])
            return true
        }.wait()
        guard applied == true else {
            server.logger.notice("re-INVITE refused (488): a new SRTP key, or the call is ending", metadata: ["call": "\(callID)"])
            return SIPReply(status: 488)
        }
        return SIPReply(status: 200, sdp: agreed.sdp)
    }
}

/// The RTP socket's handler: datagrams to the call.
final class SIPMediaHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    weak var call: SIPCall?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        call?.receive(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            call?.mediaStopped()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // An ICMP port-unreachable from a peer not listening yet: not fatal for UDP.
    }
}
