// SPDX-License-Identifier: MIT
// The HTTP side of a Twilio voice call: the webhook's form parameters in, TwiML out. When a call
// comes in (or an outbound call the user's application placed is answered), Twilio POSTs the
// call's parameters (CallSid, From, To, Direction, …) as application/x-www-form-urlencoded and
// runs the TwiML we answer: `<Connect><Stream>` opens the bidirectional media WebSocket to us,
// with `<Parameter>`s that come back in the stream's `start.customParameters`.

public enum TwilioWebhook {
    /// Decodes an application/x-www-form-urlencoded body or query string ('+' is a space,
    /// %XX a byte). Malformed escapes are kept literally rather than failing the call.
    public static func formParameters(_ text: some Collection<UInt8>) -> [(String, String)] {
        Array(text).split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecoded(parts[0]), parts.count > 1 ? percentDecoded(parts[1]) : "")
        }
    }

    static func percentDecoded(_ bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "+") {
                out.append(0x20)
            } else if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2]) {
                out.append(high << 4 | low)
                i += 2
            } else {
                out.append(bytes[i])
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// TwiML that connects the call to a bidirectional stream at `streamURL` (wss://…), passing
    /// `parameters` as `<Parameter name value>` elements.
    public static func connectStream(url streamURL: String, parameters: [(String, String)]) -> String {
        var twiml = #"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url=""# + xmlEscaped(streamURL) + #"">"#
        for (name, value) in parameters {
            twiml += #"<Parameter name=""# + xmlEscaped(name) + #"" value=""# + xmlEscaped(value) + #""/>"#
        }
        return twiml + "</Stream></Connect></Response>"
    }

    /// TwiML that dials `target`: a `<Sip>` for a sip: URI, else a `<Number>` (a transfer).
    public static func dial(_ target: String) -> String {
        let noun = target.lowercased().hasPrefix("sip:") ? "<Sip>\(xmlEscaped(target))</Sip>" : "<Number>\(xmlEscaped(target))</Number>"
        return #"<?xml version="1.0" encoding="UTF-8"?><Response><Dial>"# + noun + "</Dial></Response>"
    }

    static func xmlEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
