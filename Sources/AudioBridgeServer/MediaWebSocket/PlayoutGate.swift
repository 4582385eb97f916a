// SPDX-License-Identifier: MIT
// Which session frames carry agent audio, for protocols where the peer makes its own silence
// (chan_websocket, FreeSWITCH's forks): a frame is sent from the tick an item starts playing
// until it finishes, not while nothing plays, and not the frame a barge-in cut (the peer is told
// to flush instead). The session reports starts and ends as events after the frame is read, so
// the gate looks at the tick's events before deciding about its frame.
import AudioBridgeSession

struct PlayoutGate {
    private var playing = false

    struct Tick {
        /// Send this tick's frame.
        var send = false
        /// Items whose last frame this was: ask the peer to confirm they were heard.
        var finished: [SessionEvent] = []
        /// A barge-in cut playout: tell the peer to drop what it has queued.
        var cut: SessionEvent?
        /// The tick's other events, for logs and observers.
        var others: [SessionEvent] = []
    }

    /// Reads the events the session produced for the frame just read.
    mutating func tick(_ session: Session) -> Tick {
        var tick = Tick()
        var active = playing
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
                active = false
                tick.cut = event
            default:
                tick.others.append(event)
            }
        }
        tick.send = active
        return tick
    }
}
