// SPDX-License-Identifier: MIT
// X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
// sorted by name, with no separators)). The URL is the one Twilio requested (scheme, host, path
// and query as configured in Twilio), not what a proxy in front of us rewrote it to.
import AudioBridgeCore

public enum TwilioSignature {
    public static func compute(authToken: String, url: String, parameters: [(String, String)]) -> String {
        var data = Array(url.utf8)
        // Case-sensitive byte order, as Twilio sorts; equal names keep their order.
        let ordered = parameters.enumerated().sorted { a, b in
            a.element.0 == b.element.0 ? a.offset < b.offset : a.element.0.utf8.lexicographicallyPrecedes(b.element.0.utf8)
        }
        for (_, (name, value)) in ordered {
            data += Array(name.utf8)
            data += Array(value.utf8)
        }
        return Base64.encode(SHA1.hmac(key: Array(authToken.utf8), message: data))
    }

    /// Whether `signature` (the header's value) matches, compared in constant time.
    public static func isValid(_ signature: String, authToken: String, url: String, parameters: [(String, String)]) -> Bool {
        let expected = Array(compute(authToken: authToken, url: url, parameters: parameters).utf8)
        let given = Array(signature.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
