// SPDX-License-Identifier: MIT
// The `echo` local agent: after the caller stops talking, it plays back what they said. It
// needs no network and no key, and exercises the whole path: uplink, speech detection, items,
// playout, and barge-in (talk over the echo and it stops).
//
// Memory: only the last 200 ms of caller audio are kept all the time (the pre-roll: speech is
// detected a little after it starts); an utterance is recorded only while the caller talks. The
// buffers are sized for the session's agent rate when the agent is attached (3× smaller at 8 kHz
// than at 24 kHz), and pages an utterance does not reach are never touched, so a call costs what
// its utterances use (a continuous 10 s ring cost a resident ~0.5 MB a call). A caller who never
// pauses long enough to end a turn is recorded up to the maximum: 160 KB at 8 kHz.
import AudioBridgeCore
import AudioBridgeSession

public final class EchoAgent: AgentTransport {
    private let live = LiveObject(.agent)
    /// The last `preRollMilliseconds` of caller audio (agent format).
    private var preRoll = AudioHistory(capacity: 0)
    /// The utterance being recorded (while `recording`), from its pre-roll on.
    private var utterance = AudioHistory(capacity: 0)
    private var recording = false
    /// The utterance being played back, copied out (the next one may start over it).
    private var playback = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var streamer = ItemStreamer()
    private var bytesPerMillisecond = 0
    private let maximumMilliseconds: Int
    /// How much before the detected start an utterance is taken from (the detector needs its
    /// minimum speech time).
    private static let preRollMilliseconds = 200

    /// Echoes utterances up to `maximumSeconds` long (longer ones keep their last part).
    public init(maximumSeconds: Int = 10) {
        maximumMilliseconds = maximumSeconds * 1000
    }

    deinit { deallocate() }

    private func deallocate() {
        preRoll.deallocate()
        utterance.deallocate()
        playback.deallocate()
    }

    /// Sizes the buffers for the session's agent format (the engine attaches before any audio).
    public func attached(to session: Session) {
        let configuration = session.configuration
        bytesPerMillisecond = configuration.agentSampleRate / 1000 * configuration.agentFormat.bytesPerSample
        deallocate()
        preRoll = AudioHistory(capacity: Self.preRollMilliseconds * bytesPerMillisecond)
        utterance = AudioHistory(capacity: maximumMilliseconds * bytesPerMillisecond)
        playback = .allocate(byteCount: maximumMilliseconds * bytesPerMillisecond, alignment: 16)
    }

    public func send(uplink audio: UnsafeRawBufferPointer) -> Int32 {
        preRoll.append(audio)
        if recording { utterance.append(audio) }
        return 0
    }

    public func handle(_ event: SessionEvent) {
        streamer.handle(event)
        switch event.kind {
        case .speechStarted:
            utterance.clear()
            preRoll.copyNewest(preRoll.count / 2 * 2) { utterance.append($0) }
            recording = true
        case .speechStopped:
            guard recording else { return }
            recording = false
            playBack()
        default:
            break
        }
    }

    public func poll(_ session: Session) { streamer.pump(session) }

    /// Copies the utterance out (the ring holds its newest `maximumSeconds` if it was longer)
    /// and starts playing it.
    private func playBack() {
        let count = utterance.count / 2 * 2
        guard count > 0 else { return }
        var offset = 0
        utterance.copyNewest(count) { piece in
            (playback.baseAddress! + offset).copyMemory(from: piece.baseAddress!, byteCount: piece.count)
            offset += piece.count
        }
        streamer.start(UnsafeRawBufferPointer(rebasing: playback[..<count]))
    }
}

/// The newest `capacity` bytes written, in a ring.
private struct AudioHistory {
    private let buffer: UnsafeMutableRawBufferPointer
    private var written = 0

    init(capacity: Int) {
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    func deallocate() { buffer.deallocate() }

    /// Bytes held (at most the capacity).
    var count: Int { min(written, buffer.count) }

    mutating func clear() { written = 0 }

    mutating func append(_ audio: UnsafeRawBufferPointer) {
        guard let source = audio.baseAddress, !audio.isEmpty, !buffer.isEmpty else { return }
        // Of a (rarely) larger piece only the newest capacity bytes matter.
        let kept = min(audio.count, buffer.count)
        written += audio.count - kept
        var from = source + (audio.count - kept)
        var left = kept
        while left > 0 {
            let at = written % buffer.count
            let run = min(left, buffer.count - at)
            (buffer.baseAddress! + at).copyMemory(from: from, byteCount: run)
            from += run
            written += run
            left -= run
        }
    }

    /// Hands the newest `count` bytes (count ≤ self.count) to `body`, oldest first, in at most
    /// two contiguous pieces.
    func copyNewest(_ count: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        guard count > 0 else { return }
        let start = (written - count) % buffer.count
        let first = min(count, buffer.count - start)
        body(UnsafeRawBufferPointer(start: buffer.baseAddress! + start, count: first))
        if count > first { body(UnsafeRawBufferPointer(start: buffer.baseAddress!, count: count - first)) }
    }
}
