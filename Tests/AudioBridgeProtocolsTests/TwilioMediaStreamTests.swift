// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeProtocols
import Testing

struct TwilioMediaStreamTests {
    static func decode(_ text: String) throws -> TwilioInbound { try TwilioMediaStreamCodec.decode(Array(text.utf8)) }

    /// The worked example of protocols.md §3.6, message by message.
    @Test func theDocumentedStreamDecodes() throws {
        #expect(try Self.decode(#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#) == .connected(protocol: "Call", version: "1.0.0"))
        let start = try Self.decode(#"""
            {"event":"start","sequenceNumber":"1","streamSid":"MZ0123","start":{"streamSid":"MZ0123",
             "accountSid":"AC9","callSid":"CA7","tracks":["inbound"],"customParameters":{"tenant":"acme","caller":"+15551234567"},
             "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}
            """#)
        #expect(start == .start(TwilioStreamStart(streamSid: "MZ0123", accountSid: "AC9", callSid: "CA7", tracks: ["inbound"],
                                                  customParameters: [("tenant", "acme"), ("caller", "+15551234567")])))
        let silence = Base64.encode([UInt8](repeating: 0xFF, count: 160))
        let media = try Self.decode(#"{"event":"media","sequenceNumber":"2","streamSid":"MZ0123","media":{"track":"inbound","chunk":"1","timestamp":"20","payload":"\#(silence)"}}"#)
        #expect(media == .media(track: "inbound", chunk: 1, timestamp: 20, payload: [UInt8](repeating: 0xFF, count: 160)))
        #expect(try Self.decode(##"{"event":"dtmf","streamSid":"MZ0123","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"#"}}"##) == .dtmf(digit: UInt8(ascii: "#")))
        #expect(try Self.decode(#"{"event":"mark","sequenceNumber":"97","streamSid":"MZ0123","mark":{"name":"resp_42:end"}}"#) == .mark(name: "resp_42:end"))
        #expect(try Self.decode(#"{"event":"stop","sequenceNumber":"98","streamSid":"MZ0123","stop":{"accountSid":"AC9","callSid":"CA7"}}"#) == .stop)
    }

    @Test func numbersWhereTwilioSendsStringsAreAccepted() throws {
        let media = try Self.decode(#"{"event":"media","sequenceNumber":2,"media":{"track":"inbound","chunk":3,"timestamp":40,"payload":"AAE="}}"#)
        #expect(media == .media(track: "inbound", chunk: 3, timestamp: 40, payload: [0, 1]))
    }

    @Test func unknownEventsAreReportedNotRejected() throws {
        #expect(try Self.decode(#"{"event":"somethingNew","x":1}"#) == .unknown(event: "somethingNew"))
    }

    @Test func malformedMessagesAreTypedErrors() {
        #expect(throws: TwilioError.notAnObject) { try Self.decode("[1]") }
        #expect(throws: TwilioError.missingField(event: "?", field: "event")) { try Self.decode(#"{"evnt":"media"}"#) }
        #expect(throws: TwilioError.missingField(event: "media", field: "media")) { try Self.decode(#"{"event":"media"}"#) }
        #expect(throws: TwilioError.missingField(event: "media", field: "media.payload")) { try Self.decode(#"{"event":"media","media":{"playload":"AAE="}}"#) }
        #expect(throws: TwilioError.badPayload(.badCharacter(at: 1))) { try Self.decode(#"{"event":"media","media":{"payload":"A*E="}}"#) }
        #expect(throws: TwilioError.badDigit("12")) { try Self.decode(#"{"event":"dtmf","dtmf":{"digit":"12"}}"#) }
        #expect(throws: TwilioError.missingField(event: "mark", field: "mark.name")) { try Self.decode(#"{"event":"mark","mark":{}}"#) }
        #expect(throws: TwilioError.missingField(event: "start", field: "start")) { try Self.decode(#"{"event":"start"}"#) }
        #expect(throws: TwilioError.badJSON(.unexpectedEnd)) { try Self.decode(#"{"event":"media""#) }
    }

    /// What we send, parsed back as JSON: exactly the fields Twilio expects (a misspelt or extra
    /// field is error 31951 there).
    @Test func outboundMessagesHaveExactlyTwiliosFields() throws {
        let media = try JSONParser.parse(TwilioMediaStreamCodec.encode(.media(payload: [0xFF, 0x7F, 0x00]), streamSid: "MZ1"))
        #expect(media == ["event": "media", "streamSid": "MZ1", "media": ["payload": "/38A"]])
        let mark = try JSONParser.parse(TwilioMediaStreamCodec.encode(.mark(name: "item 7 \"end\""), streamSid: "MZ1"))
        #expect(mark == ["event": "mark", "streamSid": "MZ1", "mark": ["name": "item 7 \"end\""]])
        #expect(try JSONParser.parse(TwilioMediaStreamCodec.encode(.clear, streamSid: "MZ1")) == ["event": "clear", "streamSid": "MZ1"])
    }

    /// Every outbound media message decodes back to its payload through the inbound decoder.
    @Test func mediaRoundTripsForEveryPayloadLength() throws {
        for length in 0...400 {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ length) }
            let decoded = try TwilioMediaStreamCodec.decode(TwilioMediaStreamCodec.encode(.media(payload: payload), streamSid: "MZ"))
            #expect(decoded == .media(track: "inbound", chunk: nil, timestamp: nil, payload: payload))
        }
    }
}
