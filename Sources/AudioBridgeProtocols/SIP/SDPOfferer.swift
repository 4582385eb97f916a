// SPDX-License-Identifier: MIT
// Our SDP offer for a call we place (PCMU and PCMA at their static types, telephone-event/8000
// at 101, ptime 20; RTP/SAVP with one SDES key when SRTP is wanted) and what the callee's
// answer agreed to (RFC 3264 §6: the answer's first format is the one used; it must be one we
// offered). Pure.

public enum SDPOfferer {
    public static let telephoneEventPayloadType: UInt8 = 101

    /// `local.srtpInlineKey` is offered (AES_CM_128_HMAC_SHA1_80) when `srtp`.
    public static func offer(local: SDPAnswerer.Local, srtp: Bool) -> String {
        let family = local.isIPv6 ? "IP6" : "IP4"
        let event = telephoneEventPayloadType
        var sdp = "v=0\r\no=audiobridge \(local.sessionID) \(local.sessionVersion) IN \(family) \(local.address)\r\ns=audiobridge\r\n"
        sdp += "c=IN \(family) \(local.address)\r\nt=0 0\r\n"
        sdp += "m=audio \(local.rtpPort) \(srtp ? "RTP/SAVP" : "RTP/AVP") 0 8 \(event)\r\n"
        sdp += "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:\(event) telephone-event/8000\r\na=fmtp:\(event) 0-16\r\na=ptime:20\r\n"
        if srtp { sdp += "a=crypto:1 \(SDPAnswerer.srtpSuites[0]) inline:\(local.srtpInlineKey)\r\n" }
        return sdp + "a=sendrecv\r\n"
    }

    /// What the answer to our offer agreed: its first usable audio line.
    public static func agreed(answer: SessionDescription, offeredSRTP: Bool) throws(SDPNegotiationError) -> NegotiatedAudio {
        var refusals: [String] = []
        for line in answer.media {
            switch SDPAnswerer.negotiate(line, offer: answer, srtp: offeredSRTP ? .required : .off) {
            case .success(let audio):
                // The answer may only narrow our offer: its telephone-event type must be ours.
                var audio = audio
                if audio.telephoneEventPayloadType != telephoneEventPayloadType { audio.telephoneEventPayloadType = nil }
                if offeredSRTP, audio.remoteCrypto?.suite != SDPAnswerer.srtpSuites[0] {
                    refusals.append("the answer's crypto suite is not the one offered")
                    continue
                }
                return audio
            case .failure(let refusal):
                refusals.append(refusal.message)
            }
        }
        throw .notAcceptable(refusals.isEmpty ? "no media lines in the answer" : refusals.joined(separator: "; "))
    }
}
