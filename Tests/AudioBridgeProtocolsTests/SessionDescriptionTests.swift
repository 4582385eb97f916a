// SPDX-License-Identifier: MIT
// SDP offers as SIP trunks, PBXs and Janus send them, answered (RFC 3264): codec choice by the
// offer's order, telephone-event, one answer line per offer line, direction and hold, SDES
// crypto by policy, and every structural fault a typed error. Over mutated offers the parser
// never traps, and every answer we write parses back to what was agreed.
import AudioBridgeProtocols
import AudioBridgeTestSupport
import Testing

struct SessionDescriptionTests {
    static let local = SDPAnswerer.Local(address: "192.0.2.10", isIPv6: false, rtpPort: 40_000, sessionID: 7, sessionVersion: 1,
                                         srtpInlineKey: "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz")

    static func offer(_ media: String, session: String = "c=IN IP4 198.51.100.7\r\n") -> String {
        "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\n" + session + "t=0 0\r\n" + media
    }

    static func answer(_ text: String, srtp: SRTPPolicy = .optional) throws -> (audio: NegotiatedAudio, sdp: String) {
        try SDPAnswerer.answer(try SessionDescription(parsing: text), local: local, srtp: srtp)
    }

    @Test func aTrunkOfferOfPCMAFirstIsAnsweredWithPCMAAndTelephoneEvents() throws {
        let (audio, sdp) = try Self.answer(Self.offer("m=audio 30000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"))
        #expect(audio == NegotiatedAudio(law: .alaw, payloadType: 8, telephoneEventPayloadType: 101,
                                         remote: ConnectionAddress(isIPv6: false, address: "198.51.100.7"), remotePort: 30_000,
                                         direction: .sendrecv, remoteCrypto: nil))
        #expect(sdp == "v=0\r\no=audiobridge 7 1 IN IP4 192.0.2.10\r\ns=audiobridge\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
            + "m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n")
    }

    /// A browser's offer as Janus relays it: many codecs, PCMU among them, media-level c=.
    @Test func aManyCodecOfferIsAnsweredWithPCMUOnly() throws {
        let media = "m=audio 5004 RTP/AVP 111 9 0 8 13 110 126\r\nc=IN IP6 2001:db8::5\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:9 G722/8000\r\n"
            + "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n"
        let (audio, sdp) = try Self.answer(Self.offer(media, session: ""))
        #expect(audio.law == .ulaw && audio.payloadType == 0 && audio.telephoneEventPayloadType == 126)
        #expect(audio.remote == ConnectionAddress(isIPv6: true, address: "2001:db8::5"))
        #expect(sdp.contains("m=audio 40000 RTP/AVP 0 126\r\n"))
    }

    @Test func otherLinesGetPortZeroInTheirPlace() throws {
        let (_, sdp) = try Self.answer(Self.offer("m=video 30002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 30000 RTP/AVP 0\r\nm=audio 30004 RTP/AVP 0\r\n"))
        let mediaLines = sdp.split(separator: "\r\n").filter { $0.hasPrefix("m=") }
        #expect(mediaLines == ["m=video 0 RTP/AVP 96", "m=audio 40000 RTP/AVP 0", "m=audio 0 RTP/AVP 0"])
    }

    @Test(arguments: [(MediaDirection.sendrecv, MediaDirection.sendrecv, false), (.sendonly, .recvonly, true), (.recvonly, .sendonly, false),
                      (.inactive, .inactive, true)])
    func directionIsMirroredAndHoldIsSeen(offered: MediaDirection, answered: MediaDirection, onHold: Bool) throws {
        let (audio, sdp) = try Self.answer(Self.offer("m=audio 30000 RTP/AVP 0\r\na=\(offered.rawValue)\r\n"))
        #expect(audio.direction == answered && audio.isOnHold == onHold)
        #expect(sdp.hasSuffix("a=\(answered.rawValue)\r\n"))
    }

    @Test func theOldHoldAddressIsHold() throws {
        let (audio, _) = try Self.answer(Self.offer("m=audio 30000 RTP/AVP 0\r\n", session: "c=IN IP4 0.0.0.0\r\n"))
        #expect(audio.isOnHold && audio.direction == .sendrecv)
    }

    @Test func sdesCryptoIsTakenByPolicy() throws {
        let savp = Self.offer("m=audio 30000 RTP/SAVP 0\r\na=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:AAAA\r\n"
            + "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^31\r\n")
        let (audio, sdp) = try Self.answer(savp, srtp: .required)
        #expect(audio.remoteCrypto == CryptoAttribute(tag: 2, suite: "AES_CM_128_HMAC_SHA1_32", inlineKey: "d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^31"))
        #expect(sdp.contains("m=audio 40000 RTP/SAVP 0\r\n") && sdp.contains("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:\(Self.local.srtpInlineKey)\r\n"))
        #expect(throws: SDPNegotiationError.self) { try Self.answer(savp, srtp: .off) }
        #expect(throws: SDPNegotiationError.self) { try Self.answer(Self.offer("m=audio 30000 RTP/AVP 0\r\n"), srtp: .required) }
        #expect(throws: SDPNegotiationError.self) {
            try Self.answer(Self.offer("m=audio 30000 RTP/SAVP 0\r\na=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:AAAA\r\n"))
        }
    }

    @Test func offersWithNothingWeCanTakeSayWhy() throws {
        for (media, reason) in [("m=audio 30000 RTP/AVP 9 111\r\na=rtpmap:111 opus/48000/2\r\n", "no PCMU (0) or PCMA (8) among 9 111"),
                                ("m=audio 0 RTP/AVP 0\r\n", "audio line refused by the offerer (port 0)"),
                                ("m=audio 30000 UDP/TLS/RTP/SAVPF 0\r\n", "transport UDP/TLS/RTP/SAVPF (RTP/AVP and RTP/SAVP only)"),
                                ("m=image 30000 udptl t38\r\n", "image is not audio")] {
            #expect(throws: SDPNegotiationError.notAcceptable(reason)) { try Self.answer(Self.offer(media)) }
        }
    }

    @Test func structuralFaultsAreTypedErrors() {
        let cases: [(String, SessionDescriptionError)] = [
            ("", .empty),
            ("v=1\r\n", .badVersion),
            ("v=0\r\nthis is not sdp\r\n", .malformedLine("this is not sdp")),
            ("v=0\r\nc=IN IP4\r\n", .malformedConnection("c=IN IP4")),
            // Found by the SDP fuzz target (Fuzz/): an address that is only "/" trapped.
            ("v=0\r\nc=IN IP4 /\r\n", .malformedConnection("c=IN IP4 /")),
            ("v=0\r\nc=IN IP6 /64\r\n", .malformedConnection("c=IN IP6 /64")),
            ("v=0\r\nm=audio 3000 RTP/AVP 0\r\nc=IN IP4 /\r\n", .malformedConnection("c=IN IP4 /")),
            ("v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 70000 RTP/AVP 0\r\n", .malformedMedia("m=audio 70000 RTP/AVP 0")),
            ("v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 3000 RTP/AVP 200\r\n", .malformedMedia("m=audio 3000 RTP/AVP 200")),
            ("v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 3000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", .malformedAttribute("a=rtpmap:0 PCMU")),
            ("v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 3000 RTP/AVP 0\r\na=ptime:x\r\n", .malformedAttribute("a=ptime:x")),
            ("v=0\r\nm=audio 3000 RTP/AVP 0\r\n", .noConnectionAddress),
        ]
        for (text, error) in cases {
            #expect(throws: error) { try SessionDescription(parsing: text) }
        }
    }

    /// Lines ending in LF alone, as some stacks write them, read the same as CRLF.
    @Test func bareLineFeedsReadTheSame() throws {
        let crlf = Self.offer("m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
        let lf = String(decoding: crlf.utf8.filter { $0 != 13 }, as: UTF8.self)
        #expect(try SessionDescription(parsing: crlf) == SessionDescription(parsing: lf))
    }

    /// Random bytes and mutated offers: an answer or a typed error, never a trap; and every
    /// answer we write is valid SDP that reads back to what was agreed.
    @Test func mutatedOffersNeverTrapAndAnswersReadBack() throws {
        var random = SplitMix64(seed: 0x5D9)
        let seed = Array(Self.offer("m=audio 30000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
            + "m=audio 30002 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n").utf8)
        var answered = 0
        for _ in 0..<20_000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: index)
                default: bytes.insert(bytes[Int.random(in: 0..<bytes.count, using: &random)], at: index)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            guard let offer = try? SessionDescription(parsing: String(decoding: bytes, as: UTF8.self)),
                  let (audio, sdp) = try? SDPAnswerer.answer(offer, local: Self.local, srtp: .optional) else { continue }
            answered += 1
            let reread = try SessionDescription(parsing: sdp)
            #expect(reread.media.count == offer.media.count)
            let line = try #require(reread.media.first { $0.port == Self.local.rtpPort })
            #expect(line.formats.first == String(audio.payloadType) && line.direction == audio.direction)
        }
        #expect(answered > 1_000)
    }
}
