// SPDX-License-Identifier: MIT
// The allocation-free scan of Twilio media messages against the full decoder: the same track
// and payload on real messages, nil (the decoder decides) outside the plain shape, and over
// random and mutated messages never a message the scan takes that the decoder reads otherwise.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

struct TwilioMediaScanTests {
    /// A media message as Twilio writes it (its documentation's example, with our payload).
    static func twilio(_ payload: [UInt8], track: String = "inbound") -> [UInt8] {
        Array(#"{"event":"media","sequenceNumber":"3","media":{"track":"\#(track)","chunk":"1","timestamp":"5","payload":"\#(Base64.encode(payload))"},"streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}"#.utf8)
    }

    static func scan(_ bytes: [UInt8]) -> TwilioMediaScan? { bytes.withUnsafeBytes { TwilioMediaScan.scan($0) } }

    /// What the scan says, in the decoder's terms: (inbound, payload bytes), or nil.
    static func scanned(_ bytes: [UInt8]) -> (Bool, Result<[UInt8], Base64.DecodingError>)? {
        guard let scan = scan(bytes) else { return nil }
        return (scan.inbound, decodeIntoStorage(Array(bytes[scan.payload])))
    }

    /// Base64.decode(_:into:) on raw storage, as a Result.
    static func decodeIntoStorage(_ text: [UInt8]) -> Result<[UInt8], Base64.DecodingError> {
        var out = [UInt8](repeating: 0, count: text.count / 4 * 3)
        var failure: Base64.DecodingError?
        let count = text.withUnsafeBytes { t in
            out.withUnsafeMutableBytes { o in
                do throws(Base64.DecodingError) { return try Base64.decode(t, into: o) } catch { failure = error; return 0 }
            }
        }
        if let failure { return .failure(failure) }
        return .success(Array(out[..<count]))
    }

    @Test func realMessagesScanToTheDecodersPayload() throws {
        let audio = (0..<160).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for (track, inbound) in [("inbound", true), ("outbound", false)] {
            let message = Self.twilio(audio, track: track)
            let (scannedInbound, payload) = try #require(Self.scanned(message))
            #expect(scannedInbound == inbound)
            #expect(try payload.get() == audio)
            guard case .media(let decodedTrack, _, _, let decoded) = try TwilioMediaStreamCodec.decode(message) else { Issue.record("not media"); continue }
            #expect(decodedTrack == track && decoded == audio)
        }
        // No track: the caller's. Members in another order, whitespace: the same.
        let spaced = Array(#" { "media" : { "payload" : "AAEC" } ,"event":"media" } "#.utf8)
        let (inbound, payload) = try #require(Self.scanned(spaced))
        #expect(inbound)
        #expect(try payload.get() == [0, 1, 2])
    }

    @Test func anythingButThePlainShapeIsLeftToTheDecoder() throws {
        let others = [
            #"{"event":"media","media":{"payload":"AAEC","chunk":1}}"#,  // a number
            #"{"event":"media","media":{"payload":"AA\u0045C"}}"#,  // an escape
            #"{"event":"media","media":{"payload":"AAEC"},"x":[1]}"#,  // an array
            #"{"event":"media","media":{"payload":"AAEC"},"x":null}"#,  // a literal
            #"{"event":"mark","mark":{"name":"item-1"}}"#,  // another event
            #"{"event":"media","media":"AAEC"}"#,  // media not an object
            #"{"event":"media","media":{"track":"inbound"}}"#,  // no payload
            #"{"event":"media","media":{"payload":"AAEC"}} x"#,  // trailing bytes
            #"{"event":"media","media":{"payload":"AAEC"}"#,  // unterminated
            #"{"event":"médîa","media":{"payload":"AAEC"}}"#,  // non-ASCII
            #"{"media":{"payload":"AAEC"},"event":{"x":"media"}}"#,  // event not a string
            #"{"event":"media","event":"mark","media":{"payload":"AAEC"}}"#,  // the first event counts
        ]
        for text in others.dropLast() { #expect(Self.scan(Array(text.utf8)) == nil, "\(text)") }
        // Duplicate keys: the first one counts, as in the decoder.
        let first = try #require(Self.scanned(Array(others.last!.utf8)))
        #expect(try first.1.get() == [0, 0x01, 0x02])
        let twoPayloads = Array(#"{"event":"media","media":{"payload":"AAEC","payload":"////"}}"#.utf8)
        #expect(try Self.scanned(twoPayloads)?.1.get() == [0, 1, 2])
        guard case .media(_, _, _, let decoded) = try TwilioMediaStreamCodec.decode(twoPayloads) else { Issue.record("not media"); return }
        #expect(decoded == [0, 1, 2])
    }

    /// Random bytes and mutated messages: whenever the scan takes one, the decoder reads the same
    /// media from it (or both find the payload bad).
    @Test func theScanNeverDisagreesWithTheDecoder() {
        var rng = SplitMix64(seed: 0x7A11)
        let seeds = [Self.twilio([1, 2, 3, 4, 5]), Self.twilio([], track: "outbound"), Array(#"{"event":"media","media":{"payload":"AAEC"}}"#.utf8)]
        let alphabet = Array(#"{}":,  "eventmdiapyloadrckbu=AB+/\ 1"#.utf8)
        var taken = 0
        for round in 0..<60_000 {
            var bytes = seeds[Int(rng.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + rng.next() % 3) {
                let at = Int(rng.next() % UInt64(bytes.count + 1))
                switch rng.next() % 3 {
                case 0: if at < bytes.count { bytes.remove(at: at) }
                case 1: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                default: if at < bytes.count { bytes[at] = round % 7 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : alphabet[Int(rng.next() % UInt64(alphabet.count))] }
                }
            }
            guard let (inbound, payload) = Self.scanned(bytes) else { continue }
            taken += 1
            switch (Result { try TwilioMediaStreamCodec.decode(bytes) }, payload) {
            case (.success(.media(let track, _, _, let decoded)), .success(let scannedPayload)):
                #expect((track == "inbound") == inbound && decoded == scannedPayload, "\(String(decoding: bytes, as: UTF8.self))")
            case (.failure(TwilioError.badPayload(let a)), .failure(let b)):
                #expect(a == b)
            case (let decoded, let scannedPayload):
                Issue.record("disagree on \(String(decoding: bytes, as: UTF8.self)): \(decoded) vs \(scannedPayload)")
            }
        }
        #expect(taken > 5_000, "mutations the scan took: \(taken)")
    }

    @Test func base64IntoStorageMatchesTheArrayDecoder() {
        var rng = SplitMix64(seed: 64)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=*".utf8)
        for _ in 0..<20_000 {
            let text = (0..<(rng.next() % 24)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            var expected: [UInt8] = []
            let array = Result { () throws(Base64.DecodingError) in try Base64.decode(text, into: &expected) }
            switch (array, Self.decodeIntoStorage(text)) {
            case (.success, .success(let decoded)): #expect(decoded == expected)
            case (.failure(let a), .failure(let b)): #expect(a == b, "\(String(decoding: text, as: UTF8.self))")
            default: Issue.record("disagree on \(String(decoding: text, as: UTF8.self))")
            }
        }
    }
}
