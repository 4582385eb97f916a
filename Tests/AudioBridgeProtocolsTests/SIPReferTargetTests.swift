// SPDX-License-Identifier: MIT
// The Refer-To of a transfer: URIs as given, numbers at the caller's host, and nothing that
// could break out of the header.
import AudioBridgeProtocols
import Testing

struct SIPReferTargetTests {
    static let caller = "sip:+15550001111@trunk.example.net:5061;transport=tls"

    @Test(arguments: [
        ("sip:support@pbx.example.com", "sip:support@pbx.example.com"),
        ("SIPS:desk@example.com;transport=tls", "SIPS:desk@example.com;transport=tls"),
        ("tel:+14155550100", "tel:+14155550100"),
        ("+14155550100", "sip:+14155550100@trunk.example.net:5061"),
        ("1234*5#", "sip:1234*5%23@trunk.example.net:5061"),
    ])
    func targetsBecomeURIs(target: String, uri: String) {
        #expect(SIPReferTarget.uri(for: target, callerURI: Self.caller) == uri)
    }

    @Test(arguments: ["", "sip:", "support", "+1 415", "+", "sip:a@b>\r\nX-Evil: 1", "sip:a@b\"", "<sip:a@b>", "１２３"])
    func anythingElseIsRefused(target: String) {
        #expect(SIPReferTarget.uri(for: target, callerURI: Self.caller) == nil)
    }

    @Test func aNumberNeedsACallerHost() {
        #expect(SIPReferTarget.uri(for: "100", callerURI: "") == nil)
        #expect(SIPReferTarget.uri(for: "100", callerURI: "sip:pbx.local") == "sip:100@pbx.local")
    }
}
