// SPDX-License-Identifier: MIT
// The `echo` local agent: after the caller stops talking, it plays back what they said. It
// needs no network and no key, and exercises the whole path: uplink, speech detection, items,
// playout, and barge-in (talk over the echo and it stops).
import AudioBridgeCore
import AudioBridgeSession

public final class EchoAgent: AgentTransport {
    /// The last `historyBytes` of caller audio (agent format), as a circular buffer.
    private let history: UnsafeMutableRawBufferPointer
    private var written = 0  // bytes written into history so far
    private var utteranceStart: Int?
    /// The utterance being played back, copied out of the history.
    private let playback: UnsafeMutableRawBufferPointer
    private var streamer = ItemStreamer()
    private var bytesPerMillisecond = 48
    private let maximumMilliseconds: Int

    /// Echoes utterances up to `maximumSeconds` long (longer ones keep their last part).
    public init(maximumSeconds: Int = 10) {
        maximumMilliseconds = maximumSeconds * 1000
        // Sized for the largest agent format (24 kHz PCM16): 48 bytes per millisecond.
        history = .allocate(byteCount: maximumMilliseconds * 48 + 48_000, alignment: 16)
        playback = .allocate(byteCount: maximumMilliseconds * 48, alignment: 16)
    }

    deinit {
        history.deallocate()
        playback.deallocate()
    }

    public func attached(to session: Session) {
        let configuration = session.configuration
        bytesPerMillisecond = configuration.agentSampleRate / 1000 * configuration.agentFormat.bytesPerSample
    }

    public func send(uplink audio: UnsafeRawBufferPointer) -> Int32 {
        // Keep the newest history.count bytes of a (rarely) larger piece.
        let kept = UnsafeRawBufferPointer(rebasing: audio[(audio.count - min(audio.count, history.count))..<audio.count])
        written += audio.count - kept.count
        let at = written % history.count
        let first = min(kept.count, history.count - at)
        if first > 0 { (history.baseAddress! + at).copyMemory(from: kept.baseAddress!, byteCount: first) }
        if kept.count > first { history.baseAddress!.copyMemory(from: kept.baseAddress! + first, byteCount: kept.count - first) }
        written += kept.count
        return 0
    }

    public func handle(_ event: SessionEvent) {
        streamer.handle(event)
        switch event.kind {
        case .speechStarted:
            utteranceStart = written
        case .speechStopped:
            guard let start = utteranceStart else { return }
            utteranceStart = nil
            playBack(from: start)
        default:
            break
        }
    }

    public func poll(_ session: Session) { streamer.pump(session) }

    /// Copies the utterance out of the history — from a little before speech was detected (the
    /// detector needs its minimum speech time) to where it stopped — and starts playing it.
    private func playBack(from start: Int) {
        let preRoll = 200 * bytesPerMillisecond
        let limit = min(maximumMilliseconds * bytesPerMillisecond, history.count - 48_000)
        let from = max(max(0, start - preRoll), written - limit)
        let count = (written - from) / 2 * 2
        guard count > 0 else { return }
        let at = from % history.count
        let first = min(count, history.count - at)
        playback.baseAddress!.copyMemory(from: history.baseAddress! + at, byteCount: first)
        if count > first { (playback.baseAddress! + first).copyMemory(from: history.baseAddress!, byteCount: count - first) }
        streamer.start(UnsafeRawBufferPointer(rebasing: playback[..<count]))
    }
}
