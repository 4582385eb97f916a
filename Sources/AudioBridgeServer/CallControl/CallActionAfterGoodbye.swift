// SPDX-License-Identifier: MIT
// A tool call for the provider agents whose protocol has no answer id to wait on (Deepgram,
// ElevenLabs, Gemini): end_call and transfer_call are answered at once, so the model says its
// goodbye, and carried out only once that goodbye has been heard:
//
//   1. the goodbye ends: the agent's end-of-answer signal (`goodbyeEnded`), or no goodbye has
//      started within the wait (the model said it before calling the tool);
//   2. the goodbye has left the agent's downlink queue for the session (`poll`): the request
//      goes into the session's playout queue behind it;
//   3. the session says the caller has heard it (`sessionGranted`): a transfer is made here,
//      a hang-up by the pipeline on the session's own event.
//
// A barge-in in between drops the session's request with the audio (`bargeIn`); the model
// hears the caller and may call the tool again. Everything runs on the call's event loop.
import AudioBridgeCore
import AudioBridgeSession
import Logging
import NIOCore

final class CallActionAfterGoodbye {
    private let eventLoop: any EventLoop
    private let goodbyeWait: TimeAmount
    private let logger: Logger
    private var action: CallToolAction?
    private var goodbyeDone = false
    private var requested = false
    private var goodbyeTimer: Scheduled<Void>?

    init(eventLoop: any EventLoop, goodbyeWaitMilliseconds: Int64, logger: Logger) {
        self.eventLoop = eventLoop
        goodbyeWait = .milliseconds(goodbyeWaitMilliseconds)
        self.logger = logger
    }

    /// Runs the model's tool call. `answer` sends a result to the model on the connection the
    /// call came on (now, or later for a webhook); `goodbyeStarted` says whether the agent is
    /// receiving an answer's audio.
    func toolCalled(_ tools: CallTools, name: String, arguments: String, control: CallControl?,
                    answer: @escaping (String) -> Void, goodbyeStarted: @escaping () -> Bool) {
        let result = tools.run(name: name, arguments: arguments, control: control, completion: answer)
        switch result {
        case .answer(let output):
            answer(output)
        case .pending:
            break
        case .endAfterPlayout, .transferAfterPlayout:
            let what = result == .endAfterPlayout ? "the call ends" : "the call is transferred"
            answer(CallControlOutcome.done("\(what) once the caller has heard your answer").json)
            action = result
            goodbyeDone = false
            requested = false
            goodbyeTimer?.cancel()
            goodbyeTimer = eventLoop.assumeIsolated().scheduleTask(in: goodbyeWait) { [weak self] in
                guard let self, !goodbyeStarted() else { return }
                self.goodbyeDone = true  // no goodbye came: act on what was said before
            }
        }
    }

    /// The answer after the tool call has ended.
    func goodbyeEnded() {
        if action != nil { goodbyeDone = true }
    }

    /// Each poll: once the goodbye is all in the session, the request goes in behind it.
    func poll(_ session: Session, downlinkIsEmpty: Bool) {
        guard let action, goodbyeDone, !requested, downlinkIsEmpty else { return }
        do throws(AudioBridgeError) {
            if case .transferAfterPlayout = action { try session.agent.requestTransfer(1) } else { try session.agent.requestHangup() }
            requested = true
        } catch {}
    }

    /// The session's transferRequested / hangupRequested: the caller has heard the goodbye.
    func sessionGranted(control: CallControl?) {
        guard let action, requested else { return }
        self.action = nil
        if case .transferAfterPlayout(let target) = action {
            control?.transfer(to: target) { [logger] outcome in logger.info("transfer", metadata: ["target": "\(target)", "outcome": "\(outcome.json)"]) }
        }
    }

    /// A barge-in: the session dropped a request already made, with the audio before it.
    func bargeIn() {
        if requested { action = nil }
    }

    func cancel() { goodbyeTimer?.cancel() }
}
