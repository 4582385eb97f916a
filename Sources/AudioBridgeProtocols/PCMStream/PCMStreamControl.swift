// SPDX-License-Identifier: MIT
// The raw-PCM WebSocket agent protocol (`--agent ws://…`), for people who run their own model
// server. Audio is BINARY messages of PCM16 little-endian mono at the rate the bridge declares
// in `start`, both ways: the bridge sends one 20 ms frame per message; the server sends any
// length, as fast as it likes (the bridge paces playout and stops reading when its queue is full).
// Control is small JSON TEXT messages, each with a "type":
//
//   bridge → server
//     start    {"type":"start","version":1,"callId":"…","sampleRate":16000,"encoding":"pcm16le",
//               "channels":1,"frameMs":20,"metadata":{"caller":"…",…},
//               "abilities":{"transfer":false,"sendDtmf":false}}     first, once; abilities say
//               which call-control requests the phone side can carry out
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
//     result   {"type":"result","id":4,"ok":true,"detail":"…"} or {…,"ok":false,"error":"…"}
//              how a transfer or send_dtmf with that id went
//
//   server → bridge
//     mark     {"type":"mark","name":"…"}        ends an item; echoed once played
//     clear    {"type":"clear","id":7}          flush what is queued (the server interrupts itself)
//     cleared  {"type":"cleared","id":3}        answers the bridge's clear; audio after it is new
//     hangup   {"type":"hangup","reason":"…"}    end the call once the caller has heard everything
//              sent before it
//     transfer {"type":"transfer","id":4,"target":"+14155550100"}   transfer the call once the
//              caller has heard everything sent before it; a result follows
//     send_dtmf {"type":"send_dtmf","id":5,"digits":"12#"}   send key presses now; a result follows
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
    case hangup(reason: String)
    case transfer(id: Int?, target: String)
    case sendDTMF(id: Int?, digits: String)
    /// How a transfer or send_dtmf went; `text` is the detail when ok, else the error.
    case result(id: Int?, ok: Bool, text: String)
    case unknown(type: String)
}

public struct PCMStreamStart: Equatable, Sendable {
    public static let version = 1
    public var callID: String
    public var sampleRate: Int
    public var frameMilliseconds: Int
    public var metadata: [(String, String)]
    /// The phone side can transfer the call / send key presses.
    public var canTransfer: Bool
    public var canSendDTMF: Bool

    public init(callID: String, sampleRate: Int, frameMilliseconds: Int = 20, metadata: [(String, String)] = [],
                canTransfer: Bool = false, canSendDTMF: Bool = false) {
        self.callID = callID
        self.sampleRate = sampleRate
        self.frameMilliseconds = frameMilliseconds
        self.metadata = metadata
        self.canTransfer = canTransfer
        self.canSendDTMF = canSendDTMF
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.callID == b.callID && a.sampleRate == b.sampleRate && a.frameMilliseconds == b.frameMilliseconds
            && a.metadata.elementsEqual(b.metadata) { $0 == $1 } && a.canTransfer == b.canTransfer && a.canSendDTMF == b.canSendDTMF
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
                     "metadata": .object(start.metadata.map { ($0.0, .string($0.1)) }),
                     "abilities": ["transfer": .bool(start.canTransfer), "sendDtmf": .bool(start.canSendDTMF)]]
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
        case .hangup(let reason):
            value = ["type": "hangup", "reason": .string(reason)]
        case .transfer(let id, let target):
            value = .object([("type", "transfer")] + optional(id: id, heard: nil) + [("target", .string(target))])
        case .sendDTMF(let id, let digits):
            value = .object([("type", "send_dtmf")] + optional(id: id, heard: nil) + [("digits", .string(digits))])
        case .result(let id, let ok, let text):
            value = .object([("type", "result")] + optional(id: id, heard: nil) + [("ok", .bool(ok)), (ok ? "detail" : "error", .string(text))])
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
                                         frameMilliseconds: try count("frameMs") ?? 20, metadata: metadata,
                                         canTransfer: message["abilities"]?["transfer"] == .bool(true),
                                         canSendDTMF: message["abilities"]?["sendDtmf"] == .bool(true)))
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
        case "hangup":
            return .hangup(reason: message["reason"]?.string ?? "")
        case "transfer":
            return .transfer(id: try count("id"), target: try string("target"))
        case "send_dtmf":
            return .sendDTMF(id: try count("id"), digits: try string("digits"))
        case "result":
            guard case .bool(let ok)? = message["ok"] else { throw .missingField(type: type, field: "ok") }
            return .result(id: try count("id"), ok: ok, text: message[ok ? "detail" : "error"]?.string ?? "")
        default:
            return .unknown(type: type)
        }
    }
}
