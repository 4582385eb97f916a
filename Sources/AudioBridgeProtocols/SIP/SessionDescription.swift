// SPDX-License-Identifier: MIT
// SDP (RFC 8866) as a SIP call's offer carries it: the parts an audio call needs — connection
// addresses, media lines with their formats, rtpmap, ptime, direction and SDES crypto
// attributes — read from text, with every structural fault a typed error. Pure; the answer is
// made by SDPAnswerer.

public struct SessionDescription: Equatable, Sendable {
    /// The session-level connection address (c=), used by media lines without their own.
    public var connection: ConnectionAddress?
    /// Every m= line, in order (an answer has one line for each).
    public var media: [MediaDescription]
    /// The session-level direction attribute, the default of the media lines.
    public var direction: MediaDirection?

    public init(connection: ConnectionAddress? = nil, media: [MediaDescription] = [], direction: MediaDirection? = nil) {
        self.connection = connection
        self.media = media
        self.direction = direction
    }
}

public struct ConnectionAddress: Equatable, Sendable {
    public var isIPv6: Bool
    public var address: String

    public init(isIPv6: Bool, address: String) {
        self.isIPv6 = isIPv6
        self.address = address
    }

    /// The old way of putting a call on hold (RFC 2543): c=IN IP4 0.0.0.0.
    public var isUnspecified: Bool { address == "0.0.0.0" || address == "::" }
}

public enum MediaDirection: String, Equatable, Sendable {
    case sendrecv, sendonly, recvonly, inactive

    /// What the answerer says to an offer of this direction (RFC 3264 §6.1).
    public var answer: MediaDirection {
        switch self {
        case .sendrecv: .sendrecv
        case .sendonly: .recvonly
        case .recvonly: .sendonly
        case .inactive: .inactive
        }
    }
}

/// One `a=rtpmap:PT NAME/CLOCK[/CHANNELS]`.
public struct RTPMap: Equatable, Sendable {
    public var payloadType: UInt8
    public var encoding: String
    public var clockRate: Int
}

/// One `a=crypto:TAG SUITE inline:KEY[|…]` (RFC 4568).
public struct CryptoAttribute: Equatable, Sendable {
    public var tag: Int
    public var suite: String
    /// The key parameter after `inline:`, lifetime and MKI included as sent.
    public var inlineKey: String

    public init(tag: Int, suite: String, inlineKey: String) {
        self.tag = tag
        self.suite = suite
        self.inlineKey = inlineKey
    }
}

public struct MediaDescription: Equatable, Sendable {
    public var kind: String
    public var port: Int
    /// RTP/AVP, RTP/SAVP, …
    public var transport: String
    /// The fmt list: payload types for RTP, kept as text for anything else.
    public var formats: [String]
    public var connection: ConnectionAddress?
    public var rtpMaps: [RTPMap] = []
    public var ptime: Int?
    public var direction: MediaDirection?
    public var crypto: [CryptoAttribute] = []
    /// `a=rtcp-mux` was offered.
    public var rtcpMux = false
}

public enum SessionDescriptionError: Error, Equatable, Sendable {
    case empty
    /// The first line is not `v=0`.
    case badVersion
    case malformedLine(String)
    case malformedConnection(String)
    case malformedMedia(String)
    case malformedAttribute(String)
    /// A media line with no connection address at either level.
    case noConnectionAddress

    public var message: String {
        switch self {
        case .empty: "empty SDP"
        case .badVersion: "SDP does not start with v=0"
        case .malformedLine(let line): "malformed SDP line \(line.debugDescription)"
        case .malformedConnection(let line): "malformed c= line \(line.debugDescription)"
        case .malformedMedia(let line): "malformed m= line \(line.debugDescription)"
        case .malformedAttribute(let line): "malformed attribute \(line.debugDescription)"
        case .noConnectionAddress: "a media line without a connection address"
        }
    }
}

extension SessionDescription {
    /// SDP text of at most this many bytes is read (an offer is under 2 KB in practice).
    public static let maximumLength = 16_384

    public init(parsing text: String) throws(SessionDescriptionError) {
        guard text.utf8.count <= Self.maximumLength else { throw .malformedLine("\(text.utf8.count) bytes") }
        // By bytes: "\r\n" is one Character to Swift.
        let lines = text.utf8.split(omittingEmptySubsequences: true) { $0 == 10 || $0 == 13 }.map { String(decoding: $0, as: UTF8.self) }
        guard let first = lines.first else { throw .empty }
        guard first == "v=0" else { throw .badVersion }
        self.init()
        for line in lines.dropFirst() {
            let bytes = Array(line.utf8)
            guard bytes.count >= 2, bytes[1] == UInt8(ascii: "="), (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0]) else {
                throw .malformedLine(line)
            }
            let value = String(line.dropFirst(2))
            switch bytes[0] {
            case UInt8(ascii: "c"):
                let address = try Self.connection(value, line: line)
                if media.isEmpty { connection = address } else { media[media.count - 1].connection = address }
            case UInt8(ascii: "m"):
                media.append(try Self.mediaLine(value, line: line))
            case UInt8(ascii: "a"):
                try attribute(value, line: line)
            default:
                break  // o=, s=, t=, b=, … carry nothing an audio answer needs
            }
        }
        if connection == nil, media.contains(where: { $0.port != 0 && $0.connection == nil }) { throw .noConnectionAddress }
    }

    private static func connection(_ value: String, line: String) throws(SessionDescriptionError) -> ConnectionAddress {
        let fields = value.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 3, fields[0] == "IN", fields[1] == "IP4" || fields[1] == "IP6" else { throw .malformedConnection(line) }
        // A multicast address may carry /TTL: the address is what precedes it ("/" alone has
        // nothing before it: found by the SDP fuzz target, it trapped here).
        guard let address = fields[2].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first, !address.isEmpty else {
            throw .malformedConnection(line)
        }
        return ConnectionAddress(isIPv6: fields[1] == "IP6", address: String(address))
    }

    private static func mediaLine(_ value: String, line: String) throws(SessionDescriptionError) -> MediaDescription {
        let fields = value.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count >= 4 else { throw .malformedMedia(line) }
        // PORT or PORT/COUNT
        guard let port = fields[1].split(separator: "/", maxSplits: 1).first.flatMap({ Int($0) }), (0...65_535).contains(port) else {
            throw .malformedMedia(line)
        }
        let formats = Array(fields[3...])
        if fields[2].hasPrefix("RTP/"), formats.contains(where: { UInt8($0).map { $0 > 127 } ?? true }) { throw .malformedMedia(line) }
        return MediaDescription(kind: fields[0], port: port, transport: fields[2], formats: formats)
    }

    private mutating func attribute(_ value: String, line: String) throws(SessionDescriptionError) {
        let (name, parameter) = value.firstIndex(of: ":").map { (String(value[..<$0]), String(value[value.index(after: $0)...])) } ?? (value, "")
        if let direction = MediaDirection(rawValue: name) {
            if media.isEmpty { self.direction = direction } else { media[media.count - 1].direction = direction }
            return
        }
        guard !media.isEmpty else { return }
        let index = media.count - 1
        switch name {
        case "rtpmap":
            let parts = parameter.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let payloadType = UInt8(parts[0]), payloadType <= 127 else { throw .malformedAttribute(line) }
            let encoding = parts[1].split(separator: "/")
            guard encoding.count >= 2, let clockRate = Int(encoding[1]), clockRate > 0 else { throw .malformedAttribute(line) }
            media[index].rtpMaps.append(RTPMap(payloadType: payloadType, encoding: String(encoding[0]), clockRate: clockRate))
        case "ptime":
            // Whole milliseconds; a fraction ("20.0") is allowed and dropped.
            guard let ptime = parameter.split(separator: ".", omittingEmptySubsequences: false).first.flatMap({ Int($0) }), ptime > 0 else {
                throw .malformedAttribute(line)
            }
            media[index].ptime = ptime
        case "crypto":
            let parts = parameter.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 3, let tag = Int(parts[0]), parts[2].hasPrefix("inline:") else { throw .malformedAttribute(line) }
            media[index].crypto.append(CryptoAttribute(tag: tag, suite: String(parts[1]), inlineKey: String(parts[2].dropFirst("inline:".count))))
        case "rtcp-mux":
            media[index].rtcpMux = true
        default:
            break
        }
    }
}

extension MediaDescription {
    /// The encoding a payload type stands for: its rtpmap, else the static assignment (RFC 3551).
    public func encoding(of payloadType: UInt8) -> (name: String, clockRate: Int)? {
        if let map = rtpMaps.first(where: { $0.payloadType == payloadType }) { return (map.encoding, map.clockRate) }
        switch payloadType {
        case 0: return ("PCMU", 8000)
        case 8: return ("PCMA", 8000)
        case 13: return ("CN", 8000)
        default: return nil
        }
    }
}
