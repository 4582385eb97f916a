// SPDX-License-Identifier: MIT
import AudioBridgeProtocols
import Testing

struct SHA1Tests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    /// FIPS 180 examples, plus lengths around the padding boundary checked against each other's
    /// block structure (55, 56, 63, 64 bytes).
    @Test func fipsVectors() {
        #expect(Self.hex(SHA1.hash(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Self.hex(SHA1.hash([UInt8]())) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(Self.hex(SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(Self.hex(SHA1.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        #expect(Self.hex(SHA1.hash(Array("The quick brown fox jumps over the lazy dog".utf8))) == "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12")
    }

    /// RFC 2202 §3 test cases 1, 2, 3, 6 (a key longer than a block) and 7.
    @Test func rfc2202HMACVectors() {
        #expect(Self.hex(SHA1.hmac(key: [UInt8](repeating: 0x0B, count: 20), message: Array("Hi There".utf8))) == "b617318655057264e28bc0b6fb378c8ef146be00")
        #expect(Self.hex(SHA1.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))) == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        #expect(Self.hex(SHA1.hmac(key: [UInt8](repeating: 0xAA, count: 20), message: [UInt8](repeating: 0xDD, count: 50))) == "125d7342b9ac11cd91a39af48aa17b4f63f175d3")
        #expect(Self.hex(SHA1.hmac(key: [UInt8](repeating: 0xAA, count: 80), message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))) == "aa4ae5e15272d00e95705637ce8a3b55ed402112")
        #expect(Self.hex(SHA1.hmac(key: [UInt8](repeating: 0xAA, count: 80), message: Array("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data".utf8))) == "e8e99d0f45237d786d6bbaa7965c7808bbff1a91")
    }
}

struct TwilioSignatureTests {
    static let url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    static let parameters = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"), ("From", "+14158675309"), ("To", "+18005551212")]

    /// Twilio's documented example (token 12345).
    @Test func theDocumentedExampleValidates() {
        #expect(TwilioSignature.compute(authToken: "12345", url: Self.url, parameters: Self.parameters) == "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        #expect(TwilioSignature.isValid("RSOYDt4T1cUTdK1PDd93/VVr8B8=", authToken: "12345", url: Self.url, parameters: Self.parameters.reversed()))
    }

    @Test func anyChangeInvalidatesIt() {
        let signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        #expect(!TwilioSignature.isValid(signature, authToken: "12346", url: Self.url, parameters: Self.parameters))
        #expect(!TwilioSignature.isValid(signature, authToken: "12345", url: "http://mycompany.com/myapp.php?foo=1&bar=2", parameters: Self.parameters))
        #expect(!TwilioSignature.isValid(signature, authToken: "12345", url: Self.url, parameters: Self.parameters + [("Extra", "")]))
        #expect(!TwilioSignature.isValid(signature, authToken: "12345", url: Self.url, parameters: [("CallSid", "CA1234567890ABCDF")] + Self.parameters.dropFirst()))
        #expect(!TwilioSignature.isValid("", authToken: "12345", url: Self.url, parameters: Self.parameters))
        #expect(!TwilioSignature.isValid("RSOYDt4T1cUTdK1PDd93/VVr8B8", authToken: "12345", url: Self.url, parameters: Self.parameters))
    }
}
