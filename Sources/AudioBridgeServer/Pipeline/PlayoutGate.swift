// SPDX-License-Identifier: MIT
// Which session frames carry agent audio, for protocols where the peer makes its own silence
// (chan_websocket, FreeSWITCH's forks): a frame is sent from the tick an item starts playing
// until it finishes, not while nothing plays, not the frame a barge-in cut (the peer is told
// to flush instead), and not while playout is paused for a possible barge-in (the frame that
// pauses carries the fade-out and is sent; the one that resumes carries the fade-in). The
// session reports these as events after the frame is read, so the gate looks at the tick's
// events before deciding about its frame.
import AudioBridgeSession

struct PlayoutGate {
    private var playing = false
    private var paused = false

    struct Tick {
        /// Send this tick's frame.
        var send = false
        /// Items whose last frame this was: ask the peer to confirm they were heard.
        var finished: [SessionEvent] = []
        /// A barge-in cut playout: tell the peer to drop what it has queued.
        var cut: SessionEvent?
        /// Playout paused at this frame (its fade-out is the last audio until it resumes).
        var pausing = false
        /// The tick's other events, for logs and observers.
        var others: [SessionEvent] = []
    }

    /// Reads the events the session produced for the frame just read.
    mutating func tick(_ session: Session) -> Tick {
        var tick = Tick()
        var active = playing && !paused
        while let event = session.pollEvent() {
            switch event.kind {
            case .playoutStarted:
                active = true
                playing = true
            case .playoutFinished:
                playing = false
                tick.finished.append(event)
            case .bargeIn:
                playing = false
                paused = false
                active = false
                tick.cut = event
            case .bargeInPending:
                paused = true
                tick.pausing = true
                tick.others.append(event)
            case .bargeInResumed:
                paused = false
                active = playing
                tick.others.append(event)
            default:
                tick.others.append(event)
            }
        }
        tick.send = active
        return tick
    }
}
