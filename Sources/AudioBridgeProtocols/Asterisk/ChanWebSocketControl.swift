// SPDX-License-Identifier: MIT
// Asterisk's chan_websocket (20.16+/21.11+/22.6+): BINARY messages are raw codec bytes both
// ways; TEXT messages are control, in one of two formats the channel chooses (`f(json)` or the
// plain-text default):
//
//   Asterisk → us (events)                       us → Asterisk (commands)
//     MEDIA_START  connection_id, channel,         ANSWER, HANGUP
//                  channel_id, format,             FLUSH_MEDIA            drop queued audio (barge-in)
//                  optimal_frame_size, ptime       MARK_MEDIA [id]        → MEDIA_MARK_PROCESSED [id]
//     DTMF_END     digit                           START_MEDIA_BUFFERING / STOP_MEDIA_BUFFERING [id]
//     MEDIA_XOFF / MEDIA_XON  (flow control)      REPORT_QUEUE_DRAINED   → QUEUE_DRAINED
//     MEDIA_MARK_PROCESSED [correlation_id]        GET_STATUS             → STATUS
//     QUEUE_DRAINED, STATUS, MEDIA_BUFFERING_COMPLETED, ERROR
//
//   JSON:       {"event":"DTMF_END","channel_id":"…","digit":"1"}   {"command":"MARK_MEDIA","correlation_id":"m1"}
//   plain text: DTMF_END digit:1 channel_id:…                       MARK_MEDIA m1
//
// Events decode from either format (the first character tells); commands are written in the
// format the channel spoke. Unknown events decode as `.unknown` (ignored, counted: Asterisk may
// add events); a malformed known event, or a name that is no event name (garbage), is a typed
// error.

public enum ChanWebSocketFormat: Equatable, Sendable {
    case json, plainText
}

public struct ChanWebSocketMediaStart: Equatable, Sendable {
    public var connectionID: String
    public var channel: String
    public var channelID: String
    /// Asterisk's format name: "ulaw", "alaw", "slin", "slin16", …
    public var format: String
    /// Bytes per frame Asterisk plays (160 for ulaw at 20 ms).
    public var optimalFrameSize: Int
    public var ptime: Int

    public init(connectionID: String = "", channel: String = "", channelID: String = "", format: String, optimalFrameSize: Int, ptime: Int = 20) {
        self.connectionID = connectionID
        self.channel = channel
        self.channelID = channelID
        self.format = format
        self.optimalFrameSize = optimalFrameSize
        self.ptime = ptime
    }
}

public enum ChanWebSocketEvent: Equatable, Sendable {
    case mediaStart(ChanWebSocketMediaStart)
    case dtmfEnd(digit: UInt8)
    case mediaXoff
    case mediaXon
    case markProcessed(correlationID: String?)
    case queueDrained
    case bufferingCompleted(correlationID: String?)
    case status
    case error(String)
    case unknown(String)
}

public enum ChanWebSocketCommand: Equatable, Sendable {
    case answer
    case hangup
    case flushMedia
    case markMedia(correlationID: String)
    case startMediaBuffering
    case stopMediaBuffering(correlationID: String?)
    case reportQueueDrained
    case getStatus

    var name: String {
        switch self {
        case .answer: "ANSWER"
        case .hangup: "HANGUP"
        case .flushMedia: "FLUSH_MEDIA"
        case .markMedia: "MARK_MEDIA"
        case .startMediaBuffering: "START_MEDIA_BUFFERING"
        case .stopMediaBuffering: "STOP_MEDIA_BUFFERING"
        case .reportQueueDrained: "REPORT_QUEUE_DRAINED"
        case .getStatus: "GET_STATUS"
        }
    }

    var correlationID: String? {
        switch self {
        case .markMedia(let id): id
        case .stopMediaBuffering(let id): id
        default: nil
        }
    }
}

public enum ChanWebSocketError: Error, Equatable, Sendable {
    case empty
    case badJSON(JSONError)
    case notAnObject
    case missingField(event: String, field: String)
    case badValue(event: String, field: String)
    /// Longer than any control message Asterisk sends.
    case tooLong(Int)
    /// The event's name is not one at all: Asterisk's are upper-case words (A–Z, 0–9, _).
    case notAnEventName
}

public enum ChanWebSocketCodec {
    /// Asterisk ignores a TEXT message over 128 bytes from us; its own are small too, except
    /// MEDIA_START in JSON with channel variables. Anything beyond this is refused unparsed.
    public static let maximumEventBytes = 16 * 1024

    public static func encode(_ command: ChanWebSocketCommand, format: ChanWebSocketFormat) -> [UInt8] {
        switch format {
        case .json:
            var members: [(String, JSONValue)] = [("command", .string(command.name))]
            if let id = command.correlationID { members.append(("correlation_id", .string(id))) }
            var bytes: [UInt8] = []
            JSONValue.object(members).write(into: &bytes)
            return bytes
        case .plainText:
            return Array((command.name + (command.correlationID.map { " " + $0 } ?? "")).utf8)
        }
    }

    /// The format of a message: JSON if it starts with '{' (after blanks), else plain text.
    public static func format(of text: [UInt8]) -> ChanWebSocketFormat {
        text.first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D } == UInt8(ascii: "{") ? .json : .plainText
    }

    public static func decode(_ text: [UInt8]) throws(ChanWebSocketError) -> ChanWebSocketEvent {
        guard text.count <= maximumEventBytes else { throw .tooLong(text.count) }
        let fields: [String: String]
        let name: String
        switch format(of: text) {
        case .json:
            let value: JSONValue
            do throws(JSONError) { value = try JSONParser.parse(text, maximumBytes: maximumEventBytes) } catch { throw .badJSON(error) }
            guard case .object(let members) = value else { throw .notAnObject }
            guard let event = value["event"]?.string else { throw .missingField(event: "?", field: "event") }
            name = event
            var strings: [String: String] = [:]
            for (key, member) in members where key != "event" {
                if let string = member.string { strings[key] = string } else if let number = member.int { strings[key] = String(number) }
            }
            fields = strings
        case .plainText:
            // NAME key:value key:value …; a bare word after the name is a correlation id.
            let words = String(decoding: text, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
            guard let first = words.first else { throw .empty }
            name = String(first)
            var strings: [String: String] = [:]
            for word in words.dropFirst() {
                if let colon = word.firstIndex(of: ":") {
                    strings[String(word[..<colon])] = String(word[word.index(after: colon)...])
                } else {
                    strings["correlation_id"] = String(word)
                }
            }
            fields = strings
        }
        func required(_ field: String) throws(ChanWebSocketError) -> String {
            guard let value = fields[field], !value.isEmpty else { throw .missingField(event: name, field: field) }
            return value
        }
        guard !name.isEmpty, name.utf8.allSatisfy({ (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }) else {
            throw .notAnEventName
        }
        switch name {
        case "MEDIA_START":
            let format = try required("format")
            guard let frameSize = Int(try required("optimal_frame_size")), frameSize > 0, frameSize <= 65_500 else {
                throw .badValue(event: name, field: "optimal_frame_size")
            }
            var ptime = 20
            if let text = fields["ptime"] {
                guard let value = Int(text), value > 0, value <= 1000 else { throw .badValue(event: name, field: "ptime") }
                ptime = value
            }
            return .mediaStart(ChanWebSocketMediaStart(connectionID: fields["connection_id"] ?? "", channel: fields["channel"] ?? "",
                                                        channelID: fields["channel_id"] ?? "", format: format,
                                                        optimalFrameSize: frameSize, ptime: ptime))
        case "DTMF_END":
            let digit = try required("digit")
            guard digit.utf8.count == 1, let byte = digit.utf8.first, AudioSocketMessage.isDTMF(byte) else { throw .badValue(event: name, field: "digit") }
            return .dtmfEnd(digit: byte)
        case "MEDIA_XOFF": return .mediaXoff
        case "MEDIA_XON": return .mediaXon
        case "MEDIA_MARK_PROCESSED": return .markProcessed(correlationID: fields["correlation_id"])
        case "QUEUE_DRAINED": return .queueDrained
        case "MEDIA_BUFFERING_COMPLETED": return .bufferingCompleted(correlationID: fields["correlation_id"])
        case "STATUS": return .status
        case "ERROR": return .error(fields["error_text"] ?? fields["message"] ?? fields["error"] ?? "")
        default: return .unknown(name)
        }
    }
}
