// SPDX-License-Identifier: MIT
// Ending or transferring a Twilio call through its REST API: closing the Media Stream alone
// only ends our stream (Twilio goes on to the call's next TwiML verb), so the agent's end_call
// updates the call with Status=completed, and transfer_call with new TwiML (`<Dial>`), as
// POST {api}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json, HTTP basic auth with the
// account SID and the auth token.
import AudioBridgeProtocols
import NIOCore

public struct TwilioRESTConfiguration: Sendable {
    /// The API's base URL (https://api.twilio.com, or a local stand-in for tests).
    public var baseURL = "https://api.twilio.com"
    public var authToken: String
    public var timeoutMilliseconds: Int64 = 10_000
    /// PEM certificates trusted besides the system's (a stand-in behind a private CA).
    public var trustRootsPEM: [UInt8]?

    public init(authToken: String) { self.authToken = authToken }
}

struct TwilioCallUpdater {
    let configuration: TwilioRESTConfiguration
    let accountSid: String
    let callSid: String

    /// The call's REST resource.
    var url: ServerURL? {
        ServerURL.http(configuration.baseURL)?.appending(path: "/2010-04-01/Accounts/\(accountSid)/Calls/\(callSid).json")
    }

    /// Hangs the call up.
    func complete(on eventLoop: any EventLoop, completion: @escaping (CallControlOutcome) -> Void) {
        update([("Status", "completed")], done: "the call was hung up", on: eventLoop, completion: completion)
    }

    /// Replaces the call's TwiML with a `<Dial>` to `target` (a number, or a SIP URI as `<Sip>`).
    func transfer(to target: String, on eventLoop: any EventLoop, completion: @escaping (CallControlOutcome) -> Void) {
        update([("Twiml", TwilioWebhook.dial(target))], done: "the call is being transferred to \(target)", on: eventLoop, completion: completion)
    }

    private func update(_ form: [(String, String)], done: String, on eventLoop: any EventLoop, completion: @escaping (CallControlOutcome) -> Void) {
        guard let url else { return completion(.refused("the Twilio API URL \(configuration.baseURL) is not http(s)")) }
        let authorization = HTTPRequester.basicAuthorization(user: accountSid, password: configuration.authToken)
        HTTPRequester.post(url, headers: [("Authorization", authorization), ("Accept", "application/json")],
                           contentType: "application/x-www-form-urlencoded", body: HTTPRequester.form(form),
                           timeout: .milliseconds(configuration.timeoutMilliseconds), trustRootsPEM: configuration.trustRootsPEM,
                           eventLoop: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let answer) where (200..<300).contains(answer.status):
                completion(.done(done))
            case .success(let answer):
                let message = (try? JSONParser.parse(answer.body))?["message"]?.string
                completion(.refused("Twilio answered HTTP \(answer.status)" + (message.map { ": \($0)" } ?? "")))
            case .failure(let error):
                completion(.refused("Twilio's API could not be reached: \(error)"))
            }
        }
    }
}
