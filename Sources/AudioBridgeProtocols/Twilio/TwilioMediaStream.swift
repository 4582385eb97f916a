// SPDX-License-Identifier: MIT
// Twilio Media Streams (bidirectional `<Connect><Stream>`): the JSON messages in WebSocket TEXT
// frames, both ways. Pure: text in, messages out; messages in, text out. Twilio writes
// sequenceNumber, chunk and timestamp as strings; emulators send numbers: both are accepted.
// Unknown events decode as `.unknown(name)` so the server can count and ignore them; malformed
// JSON or a known event missing what it needs is a typed error.
import AudioBridgeCore

public enum TwilioInbound: Equatable, Sendable {
    case connected(protocol: String, version: String)
    case start(TwilioStreamStart)
    /// Caller audio: raw μ-law (no header), usually 160 bytes per 20 ms; `timestamp` is the
    /// presentation time in ms since the stream started.
    case media(track: String, chunk: Int?, timestamp: Int?, payload: [UInt8])
    case dtmf(digit: UInt8)
    /// The echo of a mark we sent: everything queued before it has been played (or cleared).
    case mark(name: String)
    case stop
    case unknown(event: String)
}

public struct TwilioStreamStart: Equatable, Sendable {
    public var streamSid: String
    public var accountSid: String
    public var callSid: String
    public var tracks: [String]
    /// The TwiML `<Parameter name value>` pairs, in document order.
    public var customParameters: [(String, String)]
    public var encoding: String
    public var sampleRate: Int
    public var channels: Int

    public static func == (a: Self, b: Self) -> Bool {
        a.streamSid == b.streamSid && a.accountSid == b.accountSid && a.callSid == b.callSid && a.tracks == b.tracks
            && a.customParameters.elementsEqual(b.customParameters) { $0 == $1 } && a.encoding == b.encoding
            && a.sampleRate == b.sampleRate && a.channels == b.channels
    }

    public init(streamSid: String, accountSid: String = "", callSid: String = "", tracks: [String] = ["inbound"],
                customParameters: [(String, String)] = [], encoding: String = "audio/x-mulaw", sampleRate: Int = 8000, channels: Int = 1) {
        self.streamSid = streamSid
        self.accountSid = accountSid
        self.callSid = callSid
        self.tracks = tracks
        self.customParameters = customParameters
        self.encoding = encoding
        self.sampleRate = sampleRate
        self.channels = channels
    }
}

public enum TwilioOutbound: Equatable, Sendable {
    /// Agent audio: raw μ-law 8 kHz, appended to Twilio's playout buffer.
    case media(payload: [UInt8])
    /// Twilio echoes it once everything queued before it has played.
    case mark(name: String)
    /// Empties Twilio's playout buffer (barge-in); pending marks come back.
    case clear
}

public enum TwilioError: Error, Equatable, Sendable {
    case badJSON(JSONError)
    case notAnObject
    case missingField(event: String, field: String)
    case badPayload(Base64.DecodingError)
    case badDigit(String)
}

public enum TwilioMediaStreamCodec {
    /// Decodes one TEXT frame from Twilio.
    public static func decode(_ frame: some Collection<UInt8>) throws(TwilioError) -> TwilioInbound { try decode(Array(frame)) }

    /// The same for an array (specialized for callers in other modules).
    public static func decode(_ frame: [UInt8]) throws(TwilioError) -> TwilioInbound {
        let message: JSONValue
        do throws(JSONError) { message = try JSONParser.parse(frame, maximumBytes: 1 << 20) } catch { throw .badJSON(error) }
        guard case .object = message else { throw .notAnObject }
        guard let event = message["event"]?.string else { throw .missingField(event: "?", field: "event") }
        func field(_ path: String...) throws(TwilioError) -> JSONValue {
            var value: JSONValue? = message
            for key in path { value = value?[key] }
            guard let value else { throw .missingField(event: event, field: path.joined(separator: ".")) }
            return value
        }
        func text(_ path: String...) throws(TwilioError) -> String {
            var value: JSONValue? = message
            for key in path { value = value?[key] }
            guard let string = value?.string else { throw .missingField(event: event, field: path.joined(separator: ".")) }
            return string
        }
        switch event {
        case "connected":
            return .connected(protocol: message["protocol"]?.string ?? "", version: message["version"]?.string ?? "")
        case "start":
            let start = try field("start")
            var parameters: [(String, String)] = []
            if case .object(let members)? = start["customParameters"] {
                for (name, value) in members { parameters.append((name, value.string ?? value.jsonText)) }
            }
            let format = start["mediaFormat"]
            let streamSid: String
            if let inner = start["streamSid"]?.string { streamSid = inner } else { streamSid = try text("streamSid") }
            return .start(TwilioStreamStart(
                streamSid: streamSid,
                accountSid: start["accountSid"]?.string ?? "", callSid: start["callSid"]?.string ?? "",
                tracks: start["tracks"]?.array?.compactMap(\.string) ?? ["inbound"], customParameters: parameters,
                encoding: format?["encoding"]?.string ?? "audio/x-mulaw", sampleRate: format?["sampleRate"]?.int ?? 8000,
                channels: format?["channels"]?.int ?? 1))
        case "media":
            let media = try field("media")
            let encoded = try text("media", "payload")
            var payload: [UInt8] = []
            do throws(Base64.DecodingError) { try Base64.decode(Array(encoded.utf8), into: &payload) } catch { throw .badPayload(error) }
            return .media(track: media["track"]?.string ?? "inbound", chunk: media["chunk"]?.int, timestamp: media["timestamp"]?.int, payload: payload)
        case "dtmf":
            let digit = try text("dtmf", "digit")
            guard digit.utf8.count == 1, let byte = digit.utf8.first, AudioSocketMessage.isDTMF(byte) else { throw .badDigit(digit) }
            return .dtmf(digit: byte)
        case "mark":
            return .mark(name: try text("mark", "name"))
        case "stop":
            return .stop
        default:
            return .unknown(event: event)
        }
    }

    /// Encodes one message for Twilio's stream `streamSid`, as the TEXT frame's UTF-8 bytes.
    public static func encode(_ message: TwilioOutbound, streamSid: String) -> [UInt8] {
        let value: JSONValue
        switch message {
        case .media(let payload):
            value = ["event": "media", "streamSid": .string(streamSid), "media": ["payload": .string(Base64.encode(payload))]]
        case .mark(let name):
            value = ["event": "mark", "streamSid": .string(streamSid), "mark": ["name": .string(name)]]
        case .clear:
            value = ["event": "clear", "streamSid": .string(streamSid)]
        }
        var bytes: [UInt8] = []
        value.write(into: &bytes)
        return bytes
    }
}

/// Twilio `media` messages for one stream, written straight into caller storage: the stream's
/// part of the JSON is prepared once, then each 20 ms message costs a copy and a Base64 pass,
/// no allocation. The text decodes to the same message `encode(.media)` gives.
public struct TwilioMediaMessageWriter: Sendable {
    private let prefix: [UInt8]
    private static let suffix = Array(#""}}"#.utf8)

    public init(streamSid: String) {
        var prefix = Array(#"{"event":"media","streamSid":"#.utf8)
        JSONValue.writeString(streamSid, into: &prefix)
        prefix += Array(#","media":{"payload":""#.utf8)
        self.prefix = prefix
    }

    /// The message's length for a payload of `payloadBytes`.
    public func count(payloadBytes: Int) -> Int { prefix.count + Base64.encodedCount(payloadBytes) + Self.suffix.count }

    /// Writes the message for `payload` into `out` (at least `count(payloadBytes:)`); returns its length.
    public func write(payload: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        precondition(out.count >= count(payloadBytes: payload.count))
        prefix.withUnsafeBytes { out.copyMemory(from: $0) }
        var written = prefix.count
        written += Base64.encode(payload, into: UnsafeMutableRawBufferPointer(rebasing: out[written...]))
        Self.suffix.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[written...]).copyMemory(from: $0) }
        return written + Self.suffix.count
    }
}

