// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

struct PCMStreamControlTests {
    @Test func startCarriesTheDeclaredFormat() throws {
        let start = PCMStreamStart(callID: "c-1", sampleRate: 16000, metadata: [("caller", "+14155550100"), ("purpose", "a \"quoted\" reason")])
        let text = PCMStreamCodec.encode(.start(start))
        let json = try JSONParser.parse(text)
        #expect(json["type"] == "start" && json["version"] == 1 && json["encoding"] == "pcm16le" && json["channels"] == 1)
        #expect(json["sampleRate"] == 16000 && json["frameMs"] == 20 && json["callId"] == "c-1")
        #expect(json["metadata"]?["purpose"] == "a \"quoted\" reason")
        #expect(try PCMStreamCodec.decode(text) == .start(start))
    }

    /// Every message, with random ids, positions, names and digits, decodes to itself.
    @Test func everyMessageRoundTrips() throws {
        var rng = SplitMix64(seed: 0x9C3)
        let digits = Array("0123456789*#ABCD".utf8)
        func name() -> String { String((0..<(rng.next() % 12)).map { _ in Character(UnicodeScalar(UInt8(32 + rng.next() % 95))) }) + "é✓" }
        for _ in 0..<2000 {
            let id = rng.next() % 3 == 0 ? nil : Int(rng.next() % 1_000_000)
            let heard = rng.next() % 3 == 0 ? nil : Int(rng.next() % 100_000)
            let messages: [PCMStreamControl] = [
                .start(PCMStreamStart(callID: name(), sampleRate: [8000, 16000, 24000, 48000][Int(rng.next() % 4)],
                                      frameMilliseconds: [10, 20, 30][Int(rng.next() % 3)], metadata: [(name(), name())],
                                      canTransfer: rng.next() % 2 == 0, canSendDTMF: rng.next() % 2 == 0)),
                .dtmf(digit: digits[Int(rng.next() % UInt64(digits.count))]),
                .mark(name: name()), .clear(id: id, heardMilliseconds: heard), .cleared(id: id, heardMilliseconds: heard),
                .pause(heardMilliseconds: Int(rng.next() % 100_000)),
                .resume(heardMilliseconds: Int(rng.next() % 100_000), pausedMilliseconds: Int(rng.next() % 5_000)),
                .stop(reason: name()),
                .hangup(reason: name()), .transfer(id: id, target: name()), .sendDTMF(id: id, digits: name()),
                .result(id: id, ok: rng.next() % 2 == 0, text: name()),
            ]
            for message in messages { #expect(try PCMStreamCodec.decode(PCMStreamCodec.encode(message)) == message) }
        }
    }

    /// The call-control messages as a server writes them by hand, and the bridge's answers.
    @Test func callControlMessagesHaveTheirDocumentedFields() throws {
        #expect(try PCMStreamCodec.decode(Array(#"{"type":"hangup"}"#.utf8)) == .hangup(reason: ""))
        #expect(try PCMStreamCodec.decode(Array(#"{"type":"transfer","id":4,"target":"+14155550100"}"#.utf8)) == .transfer(id: 4, target: "+14155550100"))
        #expect(try PCMStreamCodec.decode(Array(#"{"type":"send_dtmf","digits":"12#"}"#.utf8)) == .sendDTMF(id: nil, digits: "12#"))
        #expect(throws: PCMStreamError.missingField(type: "transfer", field: "target")) { try PCMStreamCodec.decode(Array(#"{"type":"transfer","id":4}"#.utf8)) }
        #expect(throws: PCMStreamError.missingField(type: "result", field: "ok")) { try PCMStreamCodec.decode(Array(#"{"type":"result","id":4}"#.utf8)) }
        #expect(try JSONParser.parse(PCMStreamCodec.encode(.result(id: 4, ok: false, text: "no transfer here"))) == ["type": "result", "id": 4, "ok": false, "error": "no transfer here"])
        #expect(try JSONParser.parse(PCMStreamCodec.encode(.result(id: 5, ok: true, text: "sent"))) == ["type": "result", "id": 5, "ok": true, "detail": "sent"])
        let start = try JSONParser.parse(PCMStreamCodec.encode(.start(PCMStreamStart(callID: "c", sampleRate: 8000, canSendDTMF: true))))
        #expect(start["abilities"] == ["transfer": false, "sendDtmf": true])
    }

    @Test func unknownTypesAreReportedNotRejected() throws {
        #expect(try PCMStreamCodec.decode(Array(#"{"type":"transcript","text":"hi"}"#.utf8)) == .unknown(type: "transcript"))
    }

    @Test func malformedMessagesAreTypedErrors() {
        let cases: [(String, PCMStreamError)] = [
            (#"{"type":"mark""#, .badJSON(.unexpectedEnd)),
            (#"[1]"#, .notAnObject),
            (#"{"name":"x"}"#, .missingField(type: "?", field: "type")),
            (#"{"type":"mark"}"#, .missingField(type: "mark", field: "name")),
            (#"{"type":"clear","id":-1}"#, .badValue(type: "clear", field: "id")),
            (#"{"type":"cleared","heardMs":"soon"}"#, .badValue(type: "cleared", field: "heardMs")),
            (#"{"type":"dtmf","digit":"55"}"#, .badValue(type: "dtmf", field: "digit")),
            (#"{"type":"dtmf","digit":"x"}"#, .badValue(type: "dtmf", field: "digit")),
            (#"{"type":"start","sampleRate":0}"#, .missingField(type: "start", field: "sampleRate")),
            (#"{"type":"start","sampleRate":16000,"encoding":"opus"}"#, .badValue(type: "start", field: "encoding")),
            (#"{"type":"start","sampleRate":16000,"channels":2}"#, .badValue(type: "start", field: "channels")),
            (#"{"type":"pause"}"#, .missingField(type: "pause", field: "heardMs")),
            (#"{"type":"resume","heardMs":5}"#, .missingField(type: "resume", field: "pausedMs")),
            (#"{"type":"resume","heardMs":-5,"pausedMs":1}"#, .badValue(type: "resume", field: "heardMs")),
        ]
        for (text, error) in cases {
            #expect(throws: error, "\(text)") { try PCMStreamCodec.decode(Array(text.utf8)) }
        }
        let oversize = Array(#"{"type":"mark","name":""#.utf8) + [UInt8](repeating: 0x61, count: PCMStreamCodec.maximumControlBytes) + Array(#""}"#.utf8)
        #expect(throws: PCMStreamError.self) { try PCMStreamCodec.decode(oversize) }
    }

    /// Random bytes and mutated valid messages never trap and fail only with PCMStreamError.
    @Test func randomInputNeverTraps() {
        var rng = SplitMix64(seed: 0xF00D)
        let valid = [#"{"type":"clear","id":3,"heardMs":1240}"#, #"{"type":"mark","name":"item-1"}"#, ##"{"type":"dtmf","digit":"#"}"##,
                     #"{"type":"start","version":1,"callId":"c","sampleRate":16000,"encoding":"pcm16le","channels":1,"metadata":{"a":"b"}}"#].map { Array($0.utf8) }
        var decoded = 0
        for round in 0..<50_000 {
            var bytes = valid[round % valid.count]
            for _ in 0..<(1 + rng.next() % 3) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            do {
                _ = try PCMStreamCodec.decode(bytes)
                decoded += 1
            } catch {
                // Typed: PCMStreamError is the only error decode can throw.
            }
        }
        #expect(decoded > 0 && decoded < 50_000)
    }
}
