// SPDX-License-Identifier: MIT
// `serve --sip`: calls straight from a SIP trunk or PBX. sofia-sip's user agent does the SIP
// (Sources/CSIPUserAgent: transactions, retransmissions, CANCEL, OPTIONS, session timers) on a
// thread of its own; each INVITE it hands over is answered here: the SDP offer is read and
// answered by AudioBridgeProtocols' pure SDPAnswerer, an RTP port is bound from `rtpPorts`, and
// the call runs on an event loop like every other transport's (the RTP side of the RTP mode,
// the same pipeline), until a BYE either way.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeRTP
import AudioBridgeSession
import CSIPUserAgent
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

public struct SIPServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 5060
    /// The address put in our SDP (and SIP Contact) when it is not `host`: a NAT's public one.
    public var externalAddress: String?
    /// RTP ports for calls: one even port each.
    public var rtpPorts: ClosedRange<Int> = 40_000...40_999
    public var srtp: SRTPPolicy = .optional
    public var jitterBuffer = JitterBufferSettings()
    /// Calls we place: the From URI (nil: sofia-sip's own, sip:HOST:PORT), and the trunk's
    /// credentials for its challenge.
    public var fromURI: String?
    public var outboundCredentials: (user: String, password: String)?
    /// Register this address of record (sip:USER@REGISTRAR) with its registrar, and keep it
    /// registered (refreshed before it expires), answering challenges with `outboundCredentials`.
    public var registration: (addressOfRecord: String, expiresSeconds: UInt32)?
    /// Headers of the INVITE passed to the agent with the call's metadata (case-insensitive
    /// names, e.g. X-Customer-Id), under their own names.
    public var metadataHeaders: [String] = []
    /// Callers must authenticate (digest) as one of these users (name → password); empty: anyone.
    public var users: [String: String] = [:]
    /// The digest realm of the challenge.
    public var realm = "audiobridge"
    /// Ring (180) this long before answering; 0: answer at once. The call's agent starts at
    /// the answer; a CANCEL before it ends the call.
    public var ringMilliseconds = 0
    /// A call without an RTP packet for this long (and not on hold) is hung up.
    public var mediaTimeoutSeconds: Int64 = 10
    /// RFC 4028 session timer, seconds (0: none).
    public var sessionExpires: UInt32 = 1800
    /// SIP over TLS too, on `port + 1` (5061 for 5060), with this certificate (PEM, the chain)
    /// and its private key (PEM); nil: UDP and TCP only.
    public var tls: (certificateFile: String, keyFile: String)?
    public var tlsPort: Int { port + 1 }
    /// The agent, session and recording of every call.
    public var call = CallSettings()
    /// Calls to these users (the Request-URI's user part: the number called) get these
    /// settings instead of `call`.
    public var routes: [String: CallSettings] = [:]

    public init() {}
}

public final class SIPServer: Sendable {
    public let configuration: SIPServerConfiguration
    public let services: BridgeServices
    let logger: Logger
    private let group: any EventLoopGroup
    private let pacers: LoopPacers
    private let ports: RTPPortPool
    /// Digest authentication of callers, when `users` is set.
    private let authenticator: SIPDigestAuthenticator?
    /// The running user agent (its C handle), nil until started and after shutdown.
    private let userAgent = NIOLockedValueBox<UserAgentHandle?>(nil)
    /// The certificate directory sofia-sip's TLS reads, while it runs.
    private let tlsDirectory = NIOLockedValueBox<SIPTLSDirectory?>(nil)
    /// Calls answered and not yet released, by their context pointer.
    private let calls = NIOLockedValueBox<[UInt: SIPCall]>([:])
    private let callCount = NIOLockedValueBox(0)
    /// Called on the event loop for every session event (tests).
    let eventObserver: (@Sendable (SessionEvent) -> Void)?

    struct UserAgentHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    public init(configuration: SIPServerConfiguration, group: any EventLoopGroup, services: BridgeServices = BridgeServices(),
                logger: Logger = Logger(label: "audiobridge.sip"), eventObserver: (@Sendable (SessionEvent) -> Void)? = nil) throws {
        var configuration = configuration
        configuration.call.session.frameMilliseconds = 20
        configuration.call = try CallAgent.validate(configuration.call)
        for (user, settings) in configuration.routes {
            var settings = settings
            settings.session.frameMilliseconds = 20
            configuration.routes[user] = try CallAgent.validate(settings)
        }
        self.configuration = configuration
        self.services = services
        self.group = group
        self.logger = logger
        self.eventObserver = eventObserver
        ports = try RTPPortPool(configuration.rtpPorts)
        var random = SystemRandomNumberGenerator()
        authenticator = configuration.users.isEmpty ? nil
            : SIPDigestAuthenticator(realm: configuration.realm, users: configuration.users, secret: (0..<32).map { _ in random.next() })
        pacers = try LoopPacers(group: group)
    }

    /// The address in our SDP: `externalAddress`, else the address we listen on.
    var advertisedAddress: String { configuration.externalAddress ?? configuration.host }

    /// Starts listening for SIP on UDP and TCP.
    public func start() throws {
        let isIPv6 = configuration.host.contains(":")
        let host = isIPv6 ? "[\(configuration.host)]" : configuration.host
        // sofia-sip: the URL's host is what the Contact says; maddr is where it binds.
        let url = configuration.externalAddress.map { "sip:\($0):\(configuration.port);maddr=\(host)" } ?? "sip:\(host):\(configuration.port)"
        let tlsURL = configuration.tls.map { _ in
            configuration.externalAddress.map { "sips:\($0):\(configuration.tlsPort);maddr=\(host)" } ?? "sips:\(host):\(configuration.tlsPort)"
        }
        let tlsDirectory: SIPTLSDirectory?
        do {
            tlsDirectory = try configuration.tls.map { try SIPTLSDirectory(certificateFile: $0.certificateFile, keyFile: $0.keyFile) }
        } catch {
            throw SIPServerError.cannotListen("SIP over TLS: \(error)")
        }
        var settings = sipua_settings()
        var callbacks = sipua_callbacks()
        callbacks.context = Unmanaged.passUnretained(self).toOpaque()
        callbacks.invite = { context, call, callContext, invite, answer in
            let server = Unmanaged<SIPServer>.fromOpaque(context!).takeUnretainedValue()
            server.answer(call!, existing: callContext, invite: invite!.pointee, answer: answer!)
        }
        callbacks.ended = { context, callContext, status, phrase in
            let server = Unmanaged<SIPServer>.fromOpaque(context!).takeUnretainedValue()
            server.ended(callContext!, status: Int(status), phrase: phrase.map { String(cString: $0) } ?? "")
        }
        callbacks.acknowledged = { context, callContext, sdp in
            let server = Unmanaged<SIPServer>.fromOpaque(context!).takeUnretainedValue()
            let sdp = sdp.map { String(cString: $0) } ?? ""
            server.onCall(callContext!) { $0.acknowledged(sdp: sdp) }
        }
        callbacks.transfer = { context, callContext, status, final in
            let server = Unmanaged<SIPServer>.fromOpaque(context!).takeUnretainedValue()
            server.transferProgress(callContext!, status: Int(status), final: final != 0)
        }
        callbacks.outgoing = { context, callContext, status, sdp in
            let server = Unmanaged<SIPServer>.fromOpaque(context!).takeUnretainedValue()
            let sdp = sdp.map { String(cString: $0) } ?? ""
            server.onCall(callContext!) { $0.outgoingResponse(status: Int(status), sdp: sdp) }
        }
        callbacks.challenged = { context, callContext, realm in
            let server = Unmanaged<SIPServer>.fromOpaque(context!).takeUnretainedValue()
            let realm = realm.map { String(cString: $0) } ?? "\"\""
            server.onCall(callContext!) { $0.challenged(realm: realm) }
        }
        callbacks.options = { context in
            let server = Unmanaged<SIPServer>.fromOpaque(context!).takeUnretainedValue()
            return server.services.admission.isAccepting ? 200 : 503
        }
        callbacks.registered = { context, status, phrase, expires in
            let server = Unmanaged<SIPServer>.fromOpaque(context!).takeUnretainedValue()
            let phrase = phrase.map { String(cString: $0) } ?? ""
            if (200..<300).contains(status) {
                server.logger.info("SIP registered", metadata: ["status": "\(status)", "expires": "\(expires)"])
            } else {
                server.logger.warning("SIP registration failed", metadata: ["status": "\(status)", "phrase": "\(phrase)"])
            }
        }
        var error = [CChar](repeating: 0, count: 256)
        var handle: OpaquePointer?
        let result = url.withCString { url in
            "audiobridge/\(AudioBridgeVersion.string)".withCString { agent in
                withOptionalCString(tlsURL) { tlsURL in
                    withOptionalCString(tlsDirectory?.path) { directory in
                        settings.url = url
                        settings.user_agent = agent
                        settings.session_expires = configuration.sessionExpires
                        settings.tls_url = tlsURL
                        settings.tls_directory = directory
                        return sipua_start(&settings, &callbacks, &handle, &error, error.count)
                    }
                }
            }
        }
        guard result == 0, let handle else {
            tlsDirectory?.remove()
            throw SIPServerError.cannotListen(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        userAgent.withLockedValue { $0 = UserAgentHandle(pointer: handle) }
        self.tlsDirectory.withLockedValue { $0 = tlsDirectory }
        if let registration = configuration.registration {
            let (user, password) = configuration.outboundCredentials ?? ("", "")
            guard sipua_register(handle, registration.addressOfRecord, user, password, registration.expiresSeconds) == 0 else {
                throw SIPServerError.cannotListen("cannot register \(registration.addressOfRecord)")
            }
        }
    }

    /// Hangs up every call (BYE), waits up to `seconds` for them to end, then stops SIP.
    public func shutdown(seconds: Double = 2) async {
        for call in calls.withLockedValue({ Array($0.values) }) {
            call.eventLoop.execute { call.hangUp() }
        }
        let deadline = NIODeadline.now() + .milliseconds(Int64(seconds * 1000))
        while NIODeadline.now() < deadline, calls.withLockedValue({ !$0.isEmpty }) {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        if let handle = userAgent.withLockedValue({ agent -> UserAgentHandle? in defer { agent = nil }; return agent }) {
            sipua_stop(handle.pointer)
        }
        tlsDirectory.withLockedValue { directory in directory?.remove(); directory = nil }
        // Whatever did not end by BYE ends now (its SIP dialog went with the user agent).
        for call in calls.withLockedValue({ calls -> [SIPCall] in defer { calls.removeAll() }; return Array(calls.values) }) {
            try? await call.eventLoop.submit { call.finish(reason: "server shut down") }.get()
        }
        await pacers.stop()
    }

    /// This transport's counters (any thread).
    public var snapshot: TransportCounters { services.metrics[.sip].snapshot }

    /// Calls answered and not yet over.
    public var activeCalls: Int { calls.withLockedValue { $0.count } }

    var metrics: TransportMetrics { services.metrics[.sip] }

    // MARK: On the user agent's thread

    private func answer(_ handle: OpaquePointer, existing: UnsafeMutableRawPointer?, invite: sipua_invite, answer: UnsafeMutablePointer<sipua_answer>) {
        let reply: SIPReply
        if let existing {
            let call = Unmanaged<SIPCall>.fromOpaque(existing).takeUnretainedValue()
            reply = call.reinvite(offer: String(cString: invite.sdp))
        } else {
            reply = newCall(handle, invite: SIPInvite(invite))
        }
        answer.pointee.status = Int32(reply.status)
        if let sdp = reply.sdp {
            withUnsafeMutableBytes(of: &answer.pointee.sdp) { Self.copy(sdp, into: $0) }
        }
        if let header = reply.header {
            withUnsafeMutableBytes(of: &answer.pointee.header) { Self.copy(header, into: $0) }
        }
        if let call = reply.call {
            answer.pointee.call_context = Unmanaged.passUnretained(call).toOpaque()
        }
    }

    /// `body` with `text` as a C string, or NULL.
    private func withOptionalCString<T>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> T) -> T {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }

    /// `text` and a NUL in a fixed C buffer, cut to fit.
    private static func copy(_ text: String, into buffer: UnsafeMutableRawBufferPointer) {
        buffer.copyBytes(from: Array(text.utf8.prefix(buffer.count - 1)) + [0])
    }

    private func newCall(_ handle: OpaquePointer, invite: SIPInvite) -> SIPReply {
        var log = logger
        log[metadataKey: "sip_call_id"] = "\(invite.callID)"
        if let authenticator {
            let now = Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
            switch authenticator.verify(authorization: invite.authorization.isEmpty ? nil : invite.authorization, method: "INVITE", now: now) {
            case .accepted(let user):
                log.info("SIP caller authenticated", metadata: ["user": "\(user)"])
            case .challenge(let stale):
                // The first INVITE of every authenticated call comes without credentials: counted
                // only when credentials were sent and were wrong.
                if !invite.authorization.isEmpty && !stale {
                    metrics.add(.refusedUnauthorized)
                    log.warning("SIP caller's credentials refused (401)", metadata: ["from": "\(invite.from)"])
                }
                return SIPReply(status: 401, header: "WWW-Authenticate: " + authenticator.challenge(now: now, stale: stale))
            }
        }
        // An INVITE without SDP (a late offer): our 200 offers, and the ACK answers.
        let offer: SessionDescription?
        do {
            offer = invite.sdp.isEmpty ? nil : try SessionDescription(parsing: invite.sdp)
        } catch {
            metrics.add(.protocolErrors)
            log.notice("INVITE refused (400): \(error.message)")
            return SIPReply(status: 400)
        }
        // Whether anything in the offer can be taken, before a place and a port are spent on it.
        do {
            if let offer { _ = try SDPAnswerer.answer(offer, local: localDescription(port: 0, key: ""), srtp: configuration.srtp) }
        } catch {
            metrics.add(.protocolErrors)
            log.notice("INVITE refused (488): \(error.message)")
            return SIPReply(status: 488)
        }
        if let refusal = services.admission.admit() {
            metrics.count(refusal)
            log.notice("SIP call refused: \(refusal == .atLimit ? "at --max-calls (486)" : "draining (503)")")
            return SIPReply(status: refusal == .atLimit ? 486 : 503)
        }
        let number = callCount.withLockedValue { count -> Int in count += 1; return count }
        do {
            let call = try SIPCall(server: self, handle: handle, offer: offer, invite: invite, callID: "sip-\(number)", eventLoop: group.next())
            if offer == nil { log.info("INVITE without SDP: our offer goes in the 200, the answer comes in the ACK") }
            // Ours from now on: its end (even one before the answer goes out) finds it here.
            calls.withLockedValue { $0[UInt(bitPattern: Unmanaged.passUnretained(call).toOpaque())] = call }
            let ring = configuration.ringMilliseconds
            guard ring == 0 else {
                call.eventLoop.scheduleTask(in: .milliseconds(Int64(ring))) { call.answerAfterRinging() }
                return SIPReply(status: 180, call: call)
            }
            do {
                try call.eventLoop.submit {
                    if !call.awaitsAnswer { try call.start() }  // else at the ACK
                    call.answered = true  // the 200 goes out when this callback returns
                }.wait()
            } catch {
                // Refused in this callback, the handle stays sofia-sip's (the shim destroys it).
                try? call.eventLoop.submit { call.finish(reason: "could not start", releasingHandle: false) }.wait()
                throw error
            }
            return SIPReply(status: 200, sdp: call.localSDP, call: call)
        } catch SIPServerError.noRTPPort(let range) {
            metrics.add(.refusedAtLimit)
            log.warning("SIP call refused (503): no free RTP port in \(range.lowerBound)-\(range.upperBound)")
            return SIPReply(status: 503)
        } catch {
            log.error("SIP call could not start (500): \(error)")
            return SIPReply(status: 500)
        }
    }

    private func ended(_ context: UnsafeMutableRawPointer, status: Int, phrase: String) {
        guard let call = calls.withLockedValue({ $0[UInt(bitPattern: context)] }) else { return }
        call.eventLoop.execute { call.finish(reason: call.sentBye ? "hung up by us (BYE \(status) \(phrase))" : "hung up by the caller (\(status) \(phrase))") }
    }

    private func transferProgress(_ context: UnsafeMutableRawPointer, status: Int, final: Bool) {
        onCall(context) { $0.transferProgress(status: status, final: final) }
    }

    /// Runs `body` on the call's event loop, if the call is still ours.
    private func onCall(_ context: UnsafeMutableRawPointer, _ body: @escaping @Sendable (SIPCall) -> Void) {
        guard let call = calls.withLockedValue({ $0[UInt(bitPattern: context)] }) else { return }
        call.eventLoop.execute { body(call) }
    }

    // MARK: Calls we place

    /// Places a call to `target` (a sip: or sips: URI) and bridges it to the agent when it is
    /// answered; returns when it is answered or has failed (within `timeoutSeconds`).
    public func place(to target: String, timeoutSeconds: Int64 = 60) async -> PlacedCallOutcome {
        let lowered = target.lowercased()
        guard lowered.hasPrefix("sip:") || lowered.hasPrefix("sips:"), target.utf8.count < 512,
              target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") && $0 != UInt8(ascii: "\"") })
        else { return .failed(status: 400, reason: "the target is not a sip: or sips: URI") }
        if let refusal = services.admission.admit() {
            metrics.count(refusal)
            return .failed(status: 503, reason: refusal == .atLimit ? "at --max-calls" : "draining")
        }
        let number = callCount.withLockedValue { count -> Int in count += 1; return count }
        let loop = group.next()
        let outcome = loop.makePromise(of: PlacedCallOutcome.self)
        let call: SIPCall
        do {
            call = try SIPCall(server: self, target: target, callID: "sip-\(number)", eventLoop: loop, placement: outcome)
        } catch {
            return .failed(status: 503, reason: "\(error)")
        }
        let context = Unmanaged.passUnretained(call).toOpaque()
        calls.withLockedValue { $0[UInt(bitPattern: context)] = call }
        logger.info("SIP call placed", metadata: ["call": "\(call.callID)", "target": "\(target)"])
        // sipua_place waits for the user agent's thread: not on an event loop.
        let address = UInt(bitPattern: context)
        let handle = try? await NIOThreadPool.singleton.runIfActive { [self] () -> SIPCall.SIPHandle? in
            let agent = userAgent.withLockedValue { $0 }
            let placed = agent.flatMap { sipua_place($0.pointer, UnsafeMutableRawPointer(bitPattern: address), target, configuration.fromURI, call.localSDP) }
            return placed.map { SIPCall.SIPHandle(pointer: $0) }
        }
        guard let handle = handle ?? nil else {
            try? await loop.submit { call.finish(reason: "the INVITE could not be sent") }.get()
            return .failed(status: 500, reason: "the INVITE could not be sent (a bad URI, or SIP stopped)")
        }
        call.placed(as: handle.pointer)
        loop.scheduleTask(in: .seconds(timeoutSeconds)) { call.notAnswered(within: timeoutSeconds) }
        return (try? await outcome.futureResult.get()) ?? .failed(status: 500, reason: "the call was lost")
    }

    // MARK: For the calls

    func localDescription(port: Int, key: String, version: UInt64 = 1, sessionID: UInt64 = 0) -> SDPAnswerer.Local {
        SDPAnswerer.Local(address: advertisedAddress, isIPv6: advertisedAddress.contains(":"), rtpPort: port, sessionID: sessionID,
                          sessionVersion: version, srtpInlineKey: key)
    }

    func pacer(on loop: any EventLoop) throws -> CallPacer { try pacers.pacer(on: loop) }
    func bindRTP(on loop: any EventLoop, handlers: @escaping @Sendable () -> [ChannelHandler]) throws -> (Channel, Int) {
        try ports.bind(host: configuration.host, group: loop, handlers: handlers)
    }
    func releasePort(_ port: Int) { ports.release(port) }

    /// A call that has ended and been finished: its SIP handle goes back to sofia-sip.
    func forget(_ call: SIPCall, releasingHandle: Bool) {
        let context = Unmanaged.passUnretained(call).toOpaque()
        _ = calls.withLockedValue { $0.removeValue(forKey: UInt(bitPattern: context)) }
        if releasingHandle, let (agent, handle) = handles(call) { sipua_release(agent, handle) }
    }

    func refer(_ call: SIPCall, to target: String) -> Bool {
        guard let (agent, handle) = handles(call) else { return false }
        return sipua_refer(agent, handle, target) == 0
    }

    /// The user agent and the call's handle, when both are there.
    private func handles(_ call: SIPCall) -> (OpaquePointer, OpaquePointer)? {
        guard let agent = userAgent.withLockedValue({ $0 }), let handle = call.handle else { return nil }
        return (agent.pointer, handle)
    }

    func answer(_ call: SIPCall) -> Bool {
        guard let (agent, handle) = handles(call) else { return false }
        return sipua_accept(agent, handle, call.localSDP) == 0
    }

    func decline(_ call: SIPCall, status: Int) -> Bool {
        guard let (agent, handle) = handles(call) else { return false }
        return sipua_decline(agent, handle, Int32(status)) == 0
    }

    func cancel(_ call: SIPCall) -> Bool {
        guard let (agent, handle) = handles(call) else { return false }
        return sipua_cancel(agent, handle) == 0
    }

    func bye(_ call: SIPCall) -> Bool {
        guard let (agent, handle) = handles(call) else { return false }
        return sipua_bye(agent, handle) == 0
    }

    func authenticate(_ call: SIPCall, credentials: String) -> Bool {
        guard let (agent, handle) = handles(call) else { return false }
        return sipua_authenticate(agent, handle, credentials) == 0
    }
}

public enum SIPServerError: Error, CustomStringConvertible {
    case cannotListen(String)
    case noRTPPort(ClosedRange<Int>)
    case badPortRange(ClosedRange<Int>)

    public var description: String {
        switch self {
        case .cannotListen(let reason): reason
        case .noRTPPort(let range): "no free RTP port in \(range.lowerBound)-\(range.upperBound)"
        case .badPortRange(let range): "RTP port range \(range.lowerBound)-\(range.upperBound) has no even port in 1024-65534"
        }
    }
}

/// The INVITE's fields the call keeps (copied out of the C strings).
struct SIPInvite {
    var requestUser: String
    var from: String
    var fromDisplay: String
    var to: String
    var callID: String
    var sdp: String
    var authorization: String
    /// Headers without a parser of sofia-sip's (X-…, P-…), as (name, value), in order.
    var otherHeaders: [(String, String)]

    init(_ invite: sipua_invite) {
        requestUser = String(cString: invite.request_user)
        from = String(cString: invite.from)
        fromDisplay = String(cString: invite.from_display)
        to = String(cString: invite.to)
        callID = String(cString: invite.call_id)
        sdp = String(cString: invite.sdp)
        authorization = String(cString: invite.authorization)
        otherHeaders = String(cString: invite.other_headers).split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " }))
        }
    }
}

/// What an INVITE is answered with.
struct SIPReply {
    var status: Int
    var sdp: String?
    var call: SIPCall?
    /// One more header line of a refusal.
    var header: String?
}
