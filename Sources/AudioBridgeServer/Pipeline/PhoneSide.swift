// SPDX-License-Identifier: MIT
// A phone transport as the call pipeline sees it: the adapter between one peer's protocol and
// the call. Bytes in become caller frames (`CallPipeline.feedCaller`); the pipeline's 20 ms tick
// asks the adapter for the frame the caller hears next and has it sent; the session's events
// become the protocol's primitives (flush, mark, pause, hang up). The adapter's codec stays pure
// (AudioBridgeProtocols); the adapter only moves its bytes. As SwiftNIO splits a protocol's codec
// from its channel handler, and pjmedia's ports plug into one conference bridge, every adapter
// plugs into the same pipeline: counters, logs, recording, limits and drain live there once.
// Every method is called on the call's event loop.
import AudioBridgeCore
import AudioBridgeSession

protocol PhoneSide: AnyObject {
    /// The peer's connection is still open.
    var isOpen: Bool { get }
    /// The peer takes a frame now; false while it is not reading (its socket is full).
    var isWritable: Bool { get }
    /// The peer plays a continuous stream (AudioSocket, Twilio, RTP): a frame goes out every
    /// 20 ms, silence included. Otherwise (chan_websocket, FreeSWITCH) the peer makes its own
    /// silence, and frames go out only while an agent item plays.
    var sendsSilence: Bool { get }
    /// The peer asked us to stop sending for now (chan_websocket's MEDIA_XOFF): the tick is
    /// skipped and the audio waits in the session.
    var isHeld: Bool { get }
    /// Reads the frame the caller hears next from the call's session (phone codec, 20 ms) into
    /// the adapter's own buffer; nil when there is nothing to send (nothing has started yet).
    func readFrame(for call: CallPipeline) -> UnsafeRawBufferPointer?
    /// Sends the frame `readFrame` returned.
    func send(frame: UnsafeRawBufferPointer)
    /// A barge-in was committed: tell the peer to drop what it has queued. False: the peer
    /// queues nothing to drop (AudioSocket, RTP: the cut frame itself is the cut).
    func flush() -> Bool
    /// The peer forgets the marks it had pending when it flushes (chan_websocket, jambonz);
    /// Twilio still echoes them.
    var flushDropsMarks: Bool { get }
    /// Playout paused for a possible barge-in at this frame.
    func pausePlayout()
    /// An item's last frame went out: mark it to the peer, which echoes `name` once the caller
    /// heard it (`CallPipeline.markConfirmed`). False: the peer has no marks (it is heard now).
    func mark(name: String) -> Bool
    /// The call is being ended by us (drain, shutdown): the protocol's hang-up, then close.
    func hangUp()
    /// The peer stopped reading: close its connection now, without the protocol's goodbye (it
    /// would wait behind everything the peer has not read).
    func drop()
    /// What the agent may ask of this phone side besides ending the call.
    var abilities: CallControlAbilities { get }
    /// The agent ended the call: end the phone call itself, not only our stream of it.
    func endCall()
    /// Transfer the phone call to `target`, where the protocol can.
    func transfer(to target: String, completion: @escaping (CallControlOutcome) -> Void)
    /// Send DTMF digits (checked: 0–9, *, #, A–D) to the far end, where the protocol can.
    func sendDigits(_ digits: String) -> CallControlOutcome
    /// What the adapter touches for each frame, for the pipeline's prefetch lists
    /// (`callerFrameMemory`, `tickMemory`); by default the adapter object itself.
    var hotMemory: HotMemory { get }
}

extension PhoneSide {
    var hotMemory: HotMemory {
        var memory = HotMemory()
        memory.add(self)
        return memory
    }
    var isHeld: Bool { false }
    func flush() -> Bool { false }
    var flushDropsMarks: Bool { true }
    func pausePlayout() {}
    func mark(name: String) -> Bool { false }
    var abilities: CallControlAbilities { CallControlAbilities() }
    func endCall() { hangUp() }
    func drop() { hangUp() }
    func transfer(to target: String, completion: @escaping (CallControlOutcome) -> Void) {
        completion(.refused("this phone connection cannot transfer calls"))
    }
    func sendDigits(_ digits: String) -> CallControlOutcome { .refused("this phone connection cannot send key presses") }
}
