// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import Testing

struct TwilioWebhookTests {
    @Test func formBodiesDecode() {
        let body = "CallSid=CA123&From=%2B14158675309&To=%2B18005551212&Direction=outbound-api&CallerName=Jane+Doe&Empty=&Flag&Bad=%zz%4"
        let parameters = TwilioWebhook.formParameters(Array(body.utf8))
        #expect(parameters.map(\.0) == ["CallSid", "From", "To", "Direction", "CallerName", "Empty", "Flag", "Bad"])
        #expect(parameters.map(\.1) == ["CA123", "+14158675309", "+18005551212", "outbound-api", "Jane Doe", "", "", "%zz%4"])
        #expect(TwilioWebhook.formParameters(Array("a=%C3%A9&b=1%3D2".utf8)).map(\.1) == ["é", "1=2"])
        #expect(TwilioWebhook.formParameters([UInt8]()).isEmpty)
    }

    @Test func twimlConnectsTheStreamWithEscapedParameters() throws {
        let twiml = TwilioWebhook.connectStream(url: "wss://bridge.example.com/twilio/media",
                                                parameters: [("caller", "+14158675309"), ("purpose", "<renewal> & \"reminder\"")])
        #expect(twiml == #"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://bridge.example.com/twilio/media">"#
            + #"<Parameter name="caller" value="+14158675309"/><Parameter name="purpose" value="&lt;renewal&gt; &amp; &quot;reminder&quot;"/>"#
            + "</Stream></Connect></Response>")
    }

    @Test func twimlDialsANumberOrASIPAddressEscaped() {
        #expect(TwilioWebhook.dial("+14155550100") == #"<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Number>+14155550100</Number></Dial></Response>"#)
        #expect(TwilioWebhook.dial("SIP:desk@pbx.example.com?x=1&y=<2>")
            == #"<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Sip>SIP:desk@pbx.example.com?x=1&amp;y=&lt;2&gt;</Sip></Dial></Response>"#)
    }
}
