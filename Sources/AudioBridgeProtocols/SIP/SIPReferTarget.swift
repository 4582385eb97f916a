// SPDX-License-Identifier: MIT
// Where a blind transfer (REFER) sends the caller, from what the model asked for: a SIP, SIPS or
// tel URI as given, or a phone number (digits, an optional leading +, * and #) as a SIP URI at
// the caller's host, which for a trunk call is the trunk. Anything else is refused: the
// target goes into a Refer-To header, so nothing that could end or extend it gets through.
public enum SIPReferTarget {
    public static func uri(for target: String, callerURI: String) -> String? {
        let bytes = Array(target.utf8)
        guard !bytes.isEmpty, bytes.count < 256 else { return nil }
        // Printable ASCII without space, quote or angle brackets: the URI cannot leave its header.
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") })
        else { return nil }
        let lowered = target.lowercased()
        if lowered.hasPrefix("sip:") || lowered.hasPrefix("sips:") || lowered.hasPrefix("tel:") {
            return target.utf8.count > 4 ? target : nil
        }
        let digits = bytes.first == UInt8(ascii: "+") ? bytes.dropFirst() : bytes[...]
        guard !digits.isEmpty, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "#") })
        else { return nil }
        guard let host = host(of: callerURI) else { return nil }
        // '#' is not allowed unescaped in a URI's user part (RFC 3261 §25.1).
        let user = target.utf8.map { $0 == UInt8(ascii: "#") ? "%23" : String(UnicodeScalar($0)) }.joined()
        return "sip:\(user)@\(host)"
    }

    /// HOST[:PORT] of a sip:/sips: URI, parameters and headers dropped.
    static func host(of uri: String) -> String? {
        guard let colon = uri.firstIndex(of: ":") else { return nil }
        var rest = uri[uri.index(after: colon)...]
        if let at = rest.firstIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        let host = rest.prefix { $0 != ";" && $0 != "?" && $0 != ">" }
        return host.isEmpty ? nil : String(host)
    }
}
