// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

struct ChanWebSocketControlTests {
    /// Both of Asterisk's formats, as its documentation and a real Asterisk 22 show them.
    @Test func eventsDecodeFromBothFormats() throws {
        let plain = try ChanWebSocketCodec.decode(Array("MEDIA_START connection_id:c1 channel:WebSocket/c1/0x1 channel_id:1761.1 format:ulaw optimal_frame_size:160 ptime:20".utf8))
        let json = try ChanWebSocketCodec.decode(Array(#"{"event":"MEDIA_START","connection_id":"c1","channel":"WebSocket/c1/0x1","channel_id":"1761.1","format":"ulaw","optimal_frame_size":160,"ptime":20,"channel_variables":{"A":"b"}}"#.utf8))
        let expected = ChanWebSocketEvent.mediaStart(ChanWebSocketMediaStart(connectionID: "c1", channel: "WebSocket/c1/0x1", channelID: "1761.1", format: "ulaw", optimalFrameSize: 160, ptime: 20))
        #expect(plain == expected && json == expected)
        #expect(try ChanWebSocketCodec.decode(Array("DTMF_END digit:1 channel_id:1761.1".utf8)) == .dtmfEnd(digit: UInt8(ascii: "1")))
        #expect(try ChanWebSocketCodec.decode(Array(##"{"event":"DTMF_END","channel_id":"x","digit":"#"}"##.utf8)) == .dtmfEnd(digit: UInt8(ascii: "#")))
        #expect(try ChanWebSocketCodec.decode(Array("MEDIA_XOFF channel_id:x".utf8)) == .mediaXoff)
        #expect(try ChanWebSocketCodec.decode(Array(#"{"event":"MEDIA_XON","channel_id":"x"}"#.utf8)) == .mediaXon)
        #expect(try ChanWebSocketCodec.decode(Array("MEDIA_MARK_PROCESSED correlation_id:item-3".utf8)) == .markProcessed(correlationID: "item-3"))
        #expect(try ChanWebSocketCodec.decode(Array("MEDIA_MARK_PROCESSED item-4".utf8)) == .markProcessed(correlationID: "item-4"))
        #expect(try ChanWebSocketCodec.decode(Array(#"{"event":"QUEUE_DRAINED"}"#.utf8)) == .queueDrained)
        #expect(try ChanWebSocketCodec.decode(Array("SOMETHING_NEW x:y".utf8)) == .unknown("SOMETHING_NEW"))
    }

    @Test func malformedEventsAreTypedErrors() {
        #expect(throws: ChanWebSocketError.empty) { try ChanWebSocketCodec.decode(Array("   ".utf8)) }
        #expect(throws: ChanWebSocketError.missingField(event: "MEDIA_START", field: "format")) { try ChanWebSocketCodec.decode(Array("MEDIA_START optimal_frame_size:160".utf8)) }
        #expect(throws: ChanWebSocketError.badValue(event: "MEDIA_START", field: "optimal_frame_size")) { try ChanWebSocketCodec.decode(Array("MEDIA_START format:ulaw optimal_frame_size:-3".utf8)) }
        #expect(throws: ChanWebSocketError.badValue(event: "DTMF_END", field: "digit")) { try ChanWebSocketCodec.decode(Array("DTMF_END digit:12".utf8)) }
        #expect(throws: ChanWebSocketError.missingField(event: "?", field: "event")) { try ChanWebSocketCodec.decode(Array(#"{"command":"ANSWER"}"#.utf8)) }
        #expect(throws: ChanWebSocketError.tooLong(20_000)) { try ChanWebSocketCodec.decode([UInt8](repeating: 0x41, count: 20_000)) }
        // Garbage is not an event Asterisk might add: its "name" is no upper-case word.
        #expect(throws: ChanWebSocketError.notAnEventName) { try ChanWebSocketCodec.decode([0xC3, 0xA9, 0x01, 0x7F, 0x20, 0x41]) }
        #expect(throws: ChanWebSocketError.notAnEventName) { try ChanWebSocketCodec.decode(Array("media_start format:ulaw".utf8)) }
        #expect(throws: ChanWebSocketError.notAnEventName) { try ChanWebSocketCodec.decode(Array(#"{"event":""}"#.utf8)) }
    }

    /// Commands in the channel's own format.
    @Test func commandsEncodeInEitherFormat() throws {
        #expect(ChanWebSocketCodec.encode(.markMedia(correlationID: "item-2"), format: .plainText) == Array("MARK_MEDIA item-2".utf8))
        #expect(ChanWebSocketCodec.encode(.flushMedia, format: .plainText) == Array("FLUSH_MEDIA".utf8))
        let json = try JSONParser.parse(ChanWebSocketCodec.encode(.markMedia(correlationID: "item-2"), format: .json))
        #expect(json["command"]?.string == "MARK_MEDIA" && json["correlation_id"]?.string == "item-2")
        #expect(try JSONParser.parse(ChanWebSocketCodec.encode(.answer, format: .json)) == ["command": "ANSWER"])
        #expect(ChanWebSocketCodec.format(of: Array("  {\"event\":1}".utf8)) == .json)
        #expect(ChanWebSocketCodec.format(of: Array("MEDIA_XON".utf8)) == .plainText)
    }

}

/// Heavy on CPU: on the release build (make test-release), not among the debug tests.
struct ChanWebSocketFuzzTests {
    /// Random bytes and mutated events never trap; they decode or fail with ChanWebSocketError.
    @Test func mutatedEventsNeverTrap() {
        var random = SplitMix64(seed: 2216)
        let seeds = ["MEDIA_START connection_id:c1 format:ulaw optimal_frame_size:160 ptime:20", #"{"event":"DTMF_END","digit":"5"}"#,
                     "MEDIA_MARK_PROCESSED correlation_id:m1", #"{"event":"MEDIA_START","format":"slin16","optimal_frame_size":640}"#]
        var decoded = 0
        for round in 0..<50_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<(1 + random.next() % 3) {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            if random.next() % 4 == 0 { bytes.removeLast(Int(random.next() % UInt64(bytes.count))) }
            if (try? ChanWebSocketCodec.decode(bytes)) != nil { decoded += 1 }
        }
        #expect(decoded > 5_000)
    }
}
