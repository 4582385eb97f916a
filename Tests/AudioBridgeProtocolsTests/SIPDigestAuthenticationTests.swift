// SPDX-License-Identifier: MIT
// Digest authentication of SIP callers: RFC 2617's own example response, our challenge read
// back by a client computing its answer, stale and foreign nonces, wrong passwords, and
// malformed headers never accepted.
import AudioBridgeProtocols
import Testing

struct SIPDigestAuthenticationTests {
    static let authenticator = SIPDigestAuthenticator(realm: "audiobridge", users: ["trunk": "s3cret"], secret: Array("k".utf8), nonceLifetimeSeconds: 300)

    /// RFC 2617 §3.5's example (qop=auth) and its response.
    @Test func theRFCExampleResponse() {
        #expect(SIPDigestAuthenticator.response(user: "Mufasa", realm: "testrealm@host.com", password: "Circle Of Life", method: "GET",
                                                uri: "/dir/index.html", nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                                qop: (count: "00000001", clientNonce: "0a4f113b")) == "6629fae49393a05397450978507c4ef1")
    }

    /// What a client sends after reading our challenge at `issued`.
    static func authorization(user: String = "trunk", password: String = "s3cret", issued: Int64, qop: Bool = true, uri: String = "sip:2000@192.0.2.1") -> String {
        let challenge = authenticator.challenge(now: issued)
        let nonce = String(challenge.split(separator: "nonce=\"")[1].prefix { $0 != "\"" })
        let response = SIPDigestAuthenticator.response(user: user, realm: "audiobridge", password: password, method: "INVITE", uri: uri, nonce: nonce,
                                                       qop: qop ? (count: "00000001", clientNonce: "abc") : nil)
        return #"Digest username="\#(user)", realm="audiobridge", nonce="\#(nonce)", uri="\#(uri)", response="\#(response)", algorithm=MD5"#
            + (qop ? #", qop=auth, nc=00000001, cnonce="abc""# : "")
    }

    @Test func theChallengeSaysDigestMD5Auth() {
        let challenge = Self.authenticator.challenge(now: 1000)
        #expect(challenge.hasPrefix(#"Digest realm="audiobridge", nonce=""#) && challenge.hasSuffix(#", algorithm=MD5, qop="auth""#))
        #expect(Self.authenticator.challenge(now: 1000, stale: true).hasSuffix(", stale=true"))
    }

    @Test func rightCredentialsAreAcceptedWithAndWithoutQop() {
        for qop in [true, false] {
            #expect(Self.authenticator.verify(authorization: Self.authorization(issued: 1000, qop: qop), method: "INVITE", now: 1010) == .accepted(user: "trunk"))
        }
    }

    @Test func wrongOrMissingCredentialsAreChallenged() {
        let verify = { (header: String?) in Self.authenticator.verify(authorization: header, method: "INVITE", now: 1010) }
        #expect(verify(nil) == .challenge(stale: false))
        #expect(verify(Self.authorization(password: "guess", issued: 1000)) == .challenge(stale: false))
        #expect(verify(Self.authorization(user: "nobody", issued: 1000)) == .challenge(stale: false))
        // The response is for INVITE: it does not authenticate another method.
        #expect(Self.authenticator.verify(authorization: Self.authorization(issued: 1000), method: "REGISTER", now: 1010) == .challenge(stale: false))
        // A nonce we did not make (another secret), though its response is right for it.
        let other = SIPDigestAuthenticator(realm: "audiobridge", users: ["trunk": "s3cret"], secret: Array("other".utf8))
        let nonce = String(other.challenge(now: 1000).split(separator: "nonce=\"")[1].prefix { $0 != "\"" })
        let response = SIPDigestAuthenticator.response(user: "trunk", realm: "audiobridge", password: "s3cret", method: "INVITE", uri: "sip:x", nonce: nonce)
        #expect(verify(#"Digest username="trunk", realm="audiobridge", nonce="\#(nonce)", uri="sip:x", response="\#(response)""#) == .challenge(stale: false))
    }

    @Test func anOldNonceWithTheRightPasswordIsStale() {
        #expect(Self.authenticator.verify(authorization: Self.authorization(issued: 1000), method: "INVITE", now: 1301) == .challenge(stale: true))
        #expect(Self.authenticator.verify(authorization: Self.authorization(issued: 1000), method: "INVITE", now: 1300) == .accepted(user: "trunk"))
    }

    @Test(arguments: ["", "Basic dHJ1bms6czNjcmV0", "Digest", "Digest username", #"Digest username="trunk"#, #"Digest a=1, a=2"#,
                      #"Digest username="trunk", realm="audiobridge", nonce="0.0", uri="x", response="0""#])
    func malformedHeadersAreChallenged(header: String) {
        #expect(Self.authenticator.verify(authorization: header, method: "INVITE", now: 1010) == .challenge(stale: false))
    }
}
