// SPDX-License-Identifier: MIT
import AudioBridgeCore
import AudioBridgeSession
import Testing

/// The agent side's hang-up and transfer requests take effect exactly when everything it wrote
/// before them has been handed to the caller, and a barge-in that cuts that audio cancels them.
struct CallControlRequestTests {
    @Test func aHangupComesWithTheLastSampleOfTheGoodbye() throws {
        let h = try SessionHarness()
        let goodbye = h.agentTone(milliseconds: 1010)  // not a whole number of frames
        try h.agentSays(item: 3, goodbye)
        try h.agentEnds(item: 3)
        try h.session.agent.requestHangup()
        var agentSide: [SessionEvent] = []
        for frame in 1...60 {
            try h.step()
            while let event = h.session.agent.pollNotification() { agentSide.append(event) }
            // The goodbye's last sample goes out in frame 51 (1,010 ms); not a frame before.
            #expect(h.events(.hangupRequested).count == (frame >= 51 ? 1 : 0), "frame \(frame)")
        }
        #expect(h.events.map(\.kind) == [.playoutStarted, .playoutFinished, .hangupRequested])
        #expect(agentSide.contains { $0.kind == .hangupRequested }, "the agent side hears it too")
        #expect(Array(h.heard.prefix(goodbye.count)) == goodbye, "all of it heard")
    }

    @Test func aTransferWithNothingQueuedComesAtTheNextFrameWithItsRequestID() throws {
        let h = try SessionHarness()
        try h.silence(frames: 3)
        try h.session.agent.requestTransfer(42)
        try h.step()
        #expect(h.events(.transferRequested).map(\.item) == [42])
        try h.silence(frames: 5)
        #expect(h.events(.transferRequested).count == 1, "once")
    }

    @Test func aBargeInBeforeTheGoodbyeEndsCancelsTheRequests() throws {
        let h = try SessionHarness()
        try h.agentSays(item: 5, h.agentTone(milliseconds: 2000))
        try h.session.agent.requestTransfer(9)
        try h.session.agent.requestHangup()
        try h.silence(frames: 20)
        _ = h.session.interrupt()
        try h.silence(frames: 150)
        #expect(h.events(.bargeIn).map(\.item) == [5])
        #expect(h.events(.hangupRequested).isEmpty && h.events(.transferRequested).isEmpty, "the caller interrupted the goodbye")
        // A request made after the cut stands.
        try h.session.agent.requestHangup()
        try h.step()
        #expect(h.events(.hangupRequested).count == 1)
    }
}
