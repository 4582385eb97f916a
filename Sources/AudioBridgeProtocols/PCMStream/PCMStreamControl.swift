// SPDX-License-Identifier: MIT
// The raw-PCM WebSocket agent protocol (`--agent ws://…`), for people who run their own model
// server. Audio is BINARY messages of PCM16 little-endian mono at the rate the bridge declares
// in `start`, both ways: the bridge sends one 20 ms frame per message; the server sends any
// length, as fast as it likes (the bridge paces playout and stops reading when its queue is full).
// Control is small JSON TEXT messages, each with a "type":
//
//   bridge → server
//     start    {"type":"start","version":1,"callId":"…","sampleRate":16000,"encoding":"pcm16le",
//               "channels":1,"frameMs":20,"metadata":{"caller":"…",…}}            first, once
//     dtmf     {"type":"dtmf","digit":"5"}
//     mark     {"type":"mark","name":"…"}        the caller heard everything before that mark
//     clear    {"type":"clear","id":3,"heardMs":1240}   the caller talked over the agent: playout
//              is flushed; heardMs is how much of the cut item (the audio after the last mark
//              before it) the caller heard. Audio still arriving is discarded until the server
//              answers {"type":"cleared","id":3}.
//     cleared  {"type":"cleared","id":7,"heardMs":300}  the answer to the server's clear
//     pause    {"type":"pause","heardMs":1240}   the caller may be talking over the agent:
//              playout is paused (queue kept) at heardMs of the item playing; a clear follows
//              if the barge-in is confirmed, else a resume
//     resume   {"type":"resume","heardMs":1240,"pausedMs":320}  it was not a barge-in: playout
//              goes on from where it paused, nothing lost
//     stop     {"type":"stop","reason":"hangup"}        the call ended; the bridge closes next
//
//   server → bridge
//     mark     {"type":"mark","name":"…"}        ends an item; echoed once played
//     clear    {"type":"clear","id":7}          flush what is queued (the server interrupts itself)
//     cleared  {"type":"cleared","id":3}        answers the bridge's clear; audio after it is new
//
// Unknown types decode as `.unknown` (counted and ignored); malformed JSON or a known type
// missing what it needs is a typed error.

public enum PCMStreamControl: Equatable, Sendable {
    case start(PCMStreamStart)
    case dtmf(digit: UInt8)
    case mark(name: String)
    case clear(id: Int?, heardMilliseconds: Int?)
    case cleared(id: Int?, heardMilliseconds: Int?)
    case pause(heardMilliseconds: Int)
    case resume(heardMilliseconds: Int, pausedMilliseconds: Int)
    case stop(reason: String)
    case unknown(type: String)
}

public struct PCMStreamStart: Equatable, Sendable {
    public static let version = 1
    public var callID: String
    public var sampleRate: Int
    public var frameMilliseconds: Int
    public var metadata: [(String, String)]

    public init(callID: String, sampleRate: Int, frameMilliseconds: Int = 20, metadata: [(String, String)] = []) {
        self.callID = callID
        self.sampleRate = sampleRate
        self.frameMilliseconds = frameMilliseconds
        self.metadata = metadata
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.callID == b.callID && a.sampleRate == b.sampleRate && a.frameMilliseconds == b.frameMilliseconds
            && a.metadata.elementsEqual(b.metadata) { $0 == $1 }
    }
}

public enum PCMStreamError: Error, Equatable, Sendable {
    case badJSON(JSONError)
    case notAnObject
    case missingField(type: String, field: String)
    case badValue(type: String, field: String)
}

public enum PCMStreamCodec {
    /// Control messages are small; anything larger is refused before parsing.
    public static let maximumControlBytes = 64 * 1024

    public static func encode(_ message: PCMStreamControl) -> [UInt8] {
        let value: JSONValue
        switch message {
        case .start(let start):
            value = ["type": "start", "version": .number(String(PCMStreamStart.version)), "callId": .string(start.callID),
                     "sampleRate": .number(String(start.sampleRate)), "encoding": "pcm16le", "channels": 1,
                     "frameMs": .number(String(start.frameMilliseconds)),
                     "metadata": .object(start.metadata.map { ($0.0, .string($0.1)) })]
        case .dtmf(let digit):
            value = ["type": "dtmf", "digit": .string(String(UnicodeScalar(digit)))]
        case .mark(let name):
            value = ["type": "mark", "name": .string(name)]
        case .clear(let id, let heard):
            value = .object([("type", "clear")] + optional(id: id, heard: heard))
        case .cleared(let id, let heard):
            value = .object([("type", "cleared")] + optional(id: id, heard: heard))
        case .pause(let heard):
            value = ["type": "pause", "heardMs": .number(String(heard))]
        case .resume(let heard, let paused):
            value = ["type": "resume", "heardMs": .number(String(heard)), "pausedMs": .number(String(paused))]
        case .stop(let reason):
            value = ["type": "stop", "reason": .string(reason)]
        case .unknown(let type):
            value = ["type": .string(type)]
        }
        var bytes: [UInt8] = []
        value.write(into: &bytes)
        return bytes
    }

    private static func optional(id: Int?, heard: Int?) -> [(String, JSONValue)] {
        (id.map { [("id", JSONValue.number(String($0)))] } ?? []) + (heard.map { [("heardMs", JSONValue.number(String($0)))] } ?? [])
    }

    public static func decode(_ text: [UInt8]) throws(PCMStreamError) -> PCMStreamControl {
        let message: JSONValue
        do throws(JSONError) { message = try JSONParser.parse(text, maximumBytes: maximumControlBytes) } catch { throw .badJSON(error) }
        guard case .object = message else { throw .notAnObject }
        guard let type = message["type"]?.string else { throw .missingField(type: "?", field: "type") }
        func string(_ field: String) throws(PCMStreamError) -> String {
            guard let value = message[field]?.string else { throw .missingField(type: type, field: field) }
            return value
        }
        /// An optional non-negative integer field; present but not one is an error.
        func count(_ field: String) throws(PCMStreamError) -> Int? {
            guard let value = message[field], value != .null else { return nil }
            guard let number = value.int, number >= 0 else { throw .badValue(type: type, field: field) }
            return number
        }
        switch type {
        case "start":
            guard let rate = try count("sampleRate"), rate > 0 else { throw .missingField(type: type, field: "sampleRate") }
            if let encoding = message["encoding"]?.string, encoding != "pcm16le" { throw .badValue(type: type, field: "encoding") }
            if let channels = try count("channels"), channels != 1 { throw .badValue(type: type, field: "channels") }
            var metadata: [(String, String)] = []
            if case .object(let members)? = message["metadata"] {
                for (name, value) in members { metadata.append((name, value.string ?? value.jsonText)) }
            }
            return .start(PCMStreamStart(callID: message["callId"]?.string ?? "", sampleRate: rate,
                                         frameMilliseconds: try count("frameMs") ?? 20, metadata: metadata))
        case "dtmf":
            let digit = try string("digit")
            guard digit.utf8.count == 1, let byte = digit.utf8.first, AudioSocketMessage.isDTMF(byte) else { throw .badValue(type: type, field: "digit") }
            return .dtmf(digit: byte)
        case "mark":
            return .mark(name: try string("name"))
        case "clear":
            return .clear(id: try count("id"), heardMilliseconds: try count("heardMs"))
        case "cleared":
            return .cleared(id: try count("id"), heardMilliseconds: try count("heardMs"))
        case "pause":
            guard let heard = try count("heardMs") else { throw .missingField(type: type, field: "heardMs") }
            return .pause(heardMilliseconds: heard)
        case "resume":
            guard let heard = try count("heardMs") else { throw .missingField(type: type, field: "heardMs") }
            guard let paused = try count("pausedMs") else { throw .missingField(type: type, field: "pausedMs") }
            return .resume(heardMilliseconds: heard, pausedMilliseconds: paused)
        case "stop":
            return .stop(reason: message["reason"]?.string ?? "")
        default:
            return .unknown(type: type)
        }
    }
}
