// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeRTP
import AudioBridgeSession
import Testing

/// The static payload types of Asterisk's RTP engine (main/rtp_engine.c, ast_rtp_engine_init;
/// Asterisk 22): what an Asterisk peer that negotiated nothing — External Media, for one — makes
/// of a payload type, as (format, sample rate). Only the audio and event types near ours.
private let asteriskStaticPayloadTypes: [UInt8: (format: String, rate: Int)] = [
    0: ("ulaw", 8000), 3: ("gsm", 8000), 8: ("alaw", 8000), 9: ("g722", 16000),
    10: ("slin", 8000), 11: ("slin", 8000), 13: ("cn", 8000), 18: ("g729", 8000),
    96: ("slin192", 192_000), 97: ("ilbc", 8000), 101: ("telephone-event", 8000), 107: ("opus", 48000),
    110: ("speex", 8000), 117: ("speex16", 16000), 118: ("slin16", 16000), 119: ("speex32", 32000),
    122: ("slin12", 12000), 123: ("slin24", 24000), 124: ("slin32", 32000), 125: ("slin44", 44100),
    126: ("slin48", 48000), 127: ("slin96", 96000),
]

struct AsteriskPayloadTypeTests {
    /// Each codec's default payload type means that codec, at 8 kHz, to Asterisk.
    @Test func ourDefaultsMeanTheSameCodecAndRateToAsterisk() throws {
        let wanted: [(PhoneCodec, String)] = [(.ulaw, "ulaw"), (.alaw, "alaw"), (.slin16, "slin")]
        for (codec, format) in wanted {
            let payloadType = RTPEndpointConfiguration.payloadType(for: codec)
            let asterisk = try #require(asteriskStaticPayloadTypes[payloadType])
            #expect(asterisk.format == format && asterisk.rate == 8000, "\(codec) → \(payloadType) is \(asterisk) to Asterisk")
            #expect(RTPEndpointConfiguration.accepts(payloadType, for: codec))
        }
        #expect(asteriskStaticPayloadTypes[RTPEndpointConfiguration().telephoneEventPayloadType ?? 0]?.format == "telephone-event")
    }

    /// The static types a slin session takes are the ones Asterisk reads as 8 kHz slin; 118 (its
    /// 16 kHz slin, our old default) is taken only as a negotiated dynamic type, never chosen.
    @Test func theStaticSlinTypesWeTakeAreAsterisks8kHzSlin() {
        for payloadType in UInt8(0)..<96 where RTPEndpointConfiguration.accepts(payloadType, for: .slin16) {
            let asterisk = asteriskStaticPayloadTypes[payloadType]
            #expect(asterisk?.format == "slin" && asterisk?.rate == 8000, "\(payloadType)")
        }
        #expect(RTPEndpointConfiguration.payloadType(for: .slin16) != 118)
        #expect(!RTPEndpointConfiguration.accepts(118, for: .ulaw) && !RTPEndpointConfiguration.accepts(10, for: .ulaw))
    }
}
