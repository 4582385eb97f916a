// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

struct AudioForkControlTests {
    @Test func flavorsComeFromTheSubprotocol() {
        #expect(AudioForkFlavor(subprotocol: "audio.drachtio.org") == .audioFork)
        #expect(AudioForkFlavor(subprotocol: "audio.jambonz.org") == .jambonz)
        #expect(AudioForkFlavor(subprotocol: nil) == .audioStream)
        #expect(AudioForkFlavor(subprotocol: "chat") == nil)
    }

    @Test func metadataTellsTheFormatWhenItCan() {
        let jambonz = AudioForkMetadata.parse(Array(#"{"callSid":"x","sampleRate":16000,"mixType":"stereo"}"#.utf8))
        #expect(jambonz.sampleRate == 16000 && jambonz.mix == .stereo)
        let snake = AudioForkMetadata.parse(Array(#"{"sample_rate":"8000","mix_type":"Mixed"}"#.utf8))
        #expect(snake.sampleRate == 8000 && snake.mix == .mixed)
        let text = AudioForkMetadata.parse(Array("caller=+15551234".utf8))
        #expect(text.text == "caller=+15551234" && text.sampleRate == nil && text.mix == nil)
        #expect(AudioForkMix.stereo.channels == 2 && AudioForkMix.mixed.channels == 1)
    }

    @Test func serverMessagesAreTheModulesShapes() throws {
        let play = try JSONParser.parse(AudioForkCodec.encode(.playAudio(sampleRate: 8000, pcm16LittleEndian: [1, 2, 3, 4])))
        #expect(play["type"]?.string == "playAudio" && play["data"]?["audioContentType"]?.string == "raw")
        #expect(play["data"]?["sampleRate"]?.int == 8000 && play["data"]?["audioContent"]?.string == "AQIDBA==")
        let stream = try JSONParser.parse(AudioForkCodec.encode(.streamAudio(sampleRate: 16000, pcm16LittleEndian: [0, 0])))
        #expect(stream["type"]?.string == "streamAudio" && stream["data"]?["audioDataType"]?.string == "raw" && stream["data"]?["audioData"]?.string == "AAA=")
        #expect(try JSONParser.parse(AudioForkCodec.encode(.killAudio)) == ["type": "killAudio"])
        #expect(try JSONParser.parse(AudioForkCodec.encode(.mark(name: "item-1"))) == ["type": "mark", "data": ["name": "item-1"]])
        #expect(try JSONParser.parse(AudioForkCodec.encode(.clearMarks)) == ["type": "clearMarks"])
    }

    @Test func inboundMessagesDecode() throws {
        #expect(try AudioForkCodec.decode(Array(#"{"type":"mark","data":{"name":"n1","event":"playout"}}"#.utf8)) == .mark(name: "n1", played: true))
        #expect(try AudioForkCodec.decode(Array(#"{"type":"mark","data":{"name":"n1","event":"cleared"}}"#.utf8)) == .mark(name: "n1", played: false))
        #expect(try AudioForkCodec.decode(Array(#"{"type":"dtmf","digit":"5"}"#.utf8)) == .dtmf(digit: UInt8(ascii: "5")))
        #expect(try AudioForkCodec.decode(Array(#"{"event":"dtmf","data":{"dtmf":"*"}}"#.utf8)) == .dtmf(digit: UInt8(ascii: "*")))
        #expect(try AudioForkCodec.decode(Array(#"{"type":"transcription"}"#.utf8)) == .unknown(type: "transcription"))
        #expect(throws: AudioForkError.badValue(type: "dtmf", field: "digit")) { try AudioForkCodec.decode(Array(#"{"type":"dtmf","digit":"55"}"#.utf8)) }
        #expect(throws: AudioForkError.missingField(type: "mark", field: "name")) { try AudioForkCodec.decode(Array(#"{"type":"mark","data":{}}"#.utf8)) }
        #expect(throws: AudioForkError.notAnObject) { try AudioForkCodec.decode(Array("[1]".utf8)) }
    }

}

/// Heavy on CPU: on the release build (make test-release), not among the debug tests.
struct AudioForkFuzzTests {
    /// Mutated messages never trap; what still decodes is a well-formed event (a DTMF digit is
    /// a keypad character), and the mutations reach both outcomes.
    @Test func mutatedMessagesNeverTrap() {
        var random = SplitMix64(seed: 8090)
        let seeds = [#"{"type":"mark","data":{"name":"n1","event":"playout"}}"#, #"{"type":"dtmf","digit":"5"}"#, #"{"sampleRate":16000,"mixType":"stereo"}"#]
        var decoded = 0, refused = 0
        for round in 0..<50_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<(1 + random.next() % 3) {
                bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            }
            switch Result(catching: { try AudioForkCodec.decode(bytes) }) {
            case .success(.dtmf(let digit)):
                decoded += 1
                #expect(Array("0123456789*#ABCD".utf8).contains(digit), "digit \(digit)")
            case .success:
                decoded += 1
            case .failure:
                refused += 1
            }
            _ = AudioForkMetadata.parse(bytes)
        }
        #expect(decoded > 300 && refused > 1_000, "\(decoded) decoded, \(refused) refused")
    }
}
