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

    /// Moves the session's events for the frame just read into `events` (at most its capacity;
    /// any more wait for the next tick) and returns how many it holds and whether that frame
    /// carries agent audio the peer should get.
    mutating func tick(_ session: Session, events: UnsafeMutableBufferPointer<SessionEvent>) -> (count: Int, active: Bool) {
        var count = 0
        var active = playing && !paused
        while count < events.count, let event = session.pollEvent() {
            switch event.kind {
            case .playoutStarted:
                active = true
                playing = true
            case .playoutFinished:
                playing = false
            case .bargeIn:
                playing = false
                paused = false
                active = false
            case .bargeInPending:
                paused = true
            case .bargeInResumed:
                paused = false
                active = playing
            default:
                break
            }
            events[count] = event
            count += 1
        }
        return (count, active)
    }
}
