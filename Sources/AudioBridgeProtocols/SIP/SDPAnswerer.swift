// SPDX-License-Identifier: MIT
// The answer to a SIP call's SDP offer (RFC 3264): the first audio line we can take is answered
// with one G.711 codec (the offerer's first choice of PCMU and PCMA), telephone-event/8000 if
// offered, ptime 20 and the mirrored direction; SDES-SRTP (RFC 4568) when the line is
// RTP/SAVP and the policy allows it; every other line is refused with port 0, as the RFC
// wants one answer line per offer line. Pure: the offer in, the answer's text and what was
// agreed out.

public enum SRTPPolicy: String, Sendable, CaseIterable {
    /// Plain RTP only: RTP/SAVP lines are refused.
    case off
    /// Whichever the offer has.
    case optional
    /// RTP/SAVP with a suite we have only.
    case required
}

/// What the answer agreed for the call's audio.
public struct NegotiatedAudio: Equatable, Sendable {
    public enum Law: Equatable, Sendable { case ulaw, alaw }

    public var law: Law
    public var payloadType: UInt8
    public var telephoneEventPayloadType: UInt8?
    /// Where the offerer receives our RTP.
    public var remote: ConnectionAddress
    public var remotePort: Int
    /// Our direction in the answer.
    public var direction: MediaDirection
    /// The offer's crypto line we took (its key is what the offerer sends with), when SRTP.
    public var remoteCrypto: CryptoAttribute?

    public init(law: Law, payloadType: UInt8, telephoneEventPayloadType: UInt8?, remote: ConnectionAddress, remotePort: Int,
                direction: MediaDirection, remoteCrypto: CryptoAttribute?) {
        self.law = law
        self.payloadType = payloadType
        self.telephoneEventPayloadType = telephoneEventPayloadType
        self.remote = remote
        self.remotePort = remotePort
        self.direction = direction
        self.remoteCrypto = remoteCrypto
    }

    /// The caller put us on hold (sendonly or inactive, or the old c=0.0.0.0): we send nothing.
    public var isOnHold: Bool { direction == .inactive || direction == .recvonly || remote.isUnspecified }
}

public enum SDPNegotiationError: Error, Equatable, Sendable {
    /// No audio line we can take (codec, transport or SRTP policy): SIP's 488.
    case notAcceptable(String)

    public var message: String {
        switch self {
        case .notAcceptable(let reason): reason
        }
    }
}

public enum SDPAnswerer {
    /// The SRTP suites we answer with (AudioBridgeRTP's SRTPProfile).
    public static let srtpSuites = ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"]

    /// Our side of the answer.
    public struct Local: Sendable {
        public var address: String
        public var isIPv6: Bool
        public var rtpPort: Int
        /// o= session id and version: the version goes up with each new answer in the dialog.
        public var sessionID: UInt64
        public var sessionVersion: UInt64
        /// Our SDES inline key (base64 of key and salt), used if the answer takes SRTP.
        public var srtpInlineKey: String

        public init(address: String, isIPv6: Bool, rtpPort: Int, sessionID: UInt64, sessionVersion: UInt64, srtpInlineKey: String) {
            self.address = address
            self.isIPv6 = isIPv6
            self.rtpPort = rtpPort
            self.sessionID = sessionID
            self.sessionVersion = sessionVersion
            self.srtpInlineKey = srtpInlineKey
        }
    }

    public static func answer(_ offer: SessionDescription, local: Local, srtp: SRTPPolicy) throws(SDPNegotiationError) -> (audio: NegotiatedAudio, sdp: String) {
        var agreed: (index: Int, audio: NegotiatedAudio)?
        var refusals: [String] = []
        for (index, line) in offer.media.enumerated() where agreed == nil {
            switch negotiate(line, offer: offer, srtp: srtp) {
            case .success(let audio): agreed = (index, audio)
            case .failure(let refusal): refusals.append(refusal.message)
            }
        }
        guard let agreed else {
            throw .notAcceptable(refusals.isEmpty ? "no media lines" : refusals.joined(separator: "; "))
        }
        let family = local.isIPv6 ? "IP6" : "IP4"
        var sdp = "v=0\r\no=audiobridge \(local.sessionID) \(local.sessionVersion) IN \(family) \(local.address)\r\ns=audiobridge\r\n"
        sdp += "c=IN \(family) \(local.address)\r\nt=0 0\r\n"
        for (index, line) in offer.media.enumerated() {
            guard index == agreed.index else {
                sdp += "m=\(line.kind) 0 \(line.transport) \(line.formats.first ?? "0")\r\n"
                continue
            }
            let audio = agreed.audio
            let formats = [audio.payloadType] + (audio.telephoneEventPayloadType.map { [$0] } ?? [])
            sdp += "m=audio \(local.rtpPort) \(line.transport) \(formats.map(String.init).joined(separator: " "))\r\n"
            sdp += "a=rtpmap:\(audio.payloadType) \(audio.law == .ulaw ? "PCMU" : "PCMA")/8000\r\n"
            if let event = audio.telephoneEventPayloadType {
                sdp += "a=rtpmap:\(event) telephone-event/8000\r\na=fmtp:\(event) 0-16\r\n"
            }
            sdp += "a=ptime:20\r\n"
            if let crypto = audio.remoteCrypto {
                sdp += "a=crypto:\(crypto.tag) \(crypto.suite) inline:\(local.srtpInlineKey)\r\n"
            }
            sdp += "a=\(audio.direction.rawValue)\r\n"
        }
        return (agreed.audio, sdp)
    }

    /// One offered line: what we agree, or why not (SDPOfferer reads an answer's line with it too).
    static func negotiate(_ line: MediaDescription, offer: SessionDescription, srtp: SRTPPolicy) -> Result<NegotiatedAudio, SDPNegotiationError> {
        guard line.kind == "audio" else { return .failure(.notAcceptable("\(line.kind) is not audio")) }
        guard line.port != 0 else { return .failure(.notAcceptable("audio line refused by the offerer (port 0)")) }
        var crypto: CryptoAttribute?
        switch (line.transport, srtp) {
        case ("RTP/AVP", .off), ("RTP/AVP", .optional):
            break
        case ("RTP/AVP", .required):
            return .failure(.notAcceptable("plain RTP/AVP offered and --sip-srtp required"))
        case ("RTP/SAVP", .off):
            return .failure(.notAcceptable("RTP/SAVP offered and --sip-srtp off"))
        case ("RTP/SAVP", _):
            guard let supported = line.crypto.first(where: { srtpSuites.contains($0.suite) }) else {
                return .failure(.notAcceptable("RTP/SAVP without a crypto suite we have (\(srtpSuites.joined(separator: ", ")))"))
            }
            crypto = supported
        default:
            return .failure(.notAcceptable("transport \(line.transport) (RTP/AVP and RTP/SAVP only)"))
        }
        var chosen: (NegotiatedAudio.Law, UInt8)?
        var telephoneEvent: UInt8?
        for format in line.formats {
            guard let payloadType = UInt8(format), let encoding = line.encoding(of: payloadType) else { continue }
            // G.711 at its static payload types only (what RTPEndpoint takes, and what every
            // offer uses); telephone-event at a dynamic one, as RFC 4733 has it.
            switch (encoding.name.uppercased(), encoding.clockRate) {
            case ("PCMU", 8000) where chosen == nil && payloadType == 0: chosen = (.ulaw, payloadType)
            case ("PCMA", 8000) where chosen == nil && payloadType == 8: chosen = (.alaw, payloadType)
            case ("TELEPHONE-EVENT", 8000) where telephoneEvent == nil && payloadType >= 96: telephoneEvent = payloadType
            default: break
            }
        }
        guard let (law, payloadType) = chosen else { return .failure(.notAcceptable("no PCMU (0) or PCMA (8) among \(line.formats.joined(separator: " "))")) }
        guard let remote = line.connection ?? offer.connection else { return .failure(.notAcceptable("no connection address")) }
        let direction = (line.direction ?? offer.direction ?? .sendrecv).answer
        return .success(NegotiatedAudio(law: law, payloadType: payloadType, telephoneEventPayloadType: telephoneEvent, remote: remote,
                                        remotePort: line.port, direction: direction, remoteCrypto: crypto))
    }
}
