// SPDX-License-Identifier: MIT
// The adaptive playout (jitter) buffer for audio that arrives as RTP packets: decoded 8 kHz
// samples go in as packets arrive, one frame comes out per frame period. Driven by a clock the
// caller passes in (samples at 8 kHz, any origin), so tests script packet arrivals without
// sockets or sleeps. Realtime-safe: everything is allocated at creation.
//
// Design.
// - Storage is a ring of samples indexed by the extended (unwrapped) RTP timestamp, each slot
//   tagged with the timestamp it holds. A frame is present when every slot of it carries the
//   wanted tag, so reordering, duplicates and gaps need no packet list, and audio already played
//   stays readable until overwritten (which growing the delay relies on).
// - Delay. For each packet d = arrival − timestamp (its transit, up to an unknown constant).
//   The frame starting at timestamp t is read at time t + offset, so a packet is in time when
//   d ≤ offset. The buffer keeps offset ≈ min(d) + clamp(max(d) − min(d) + margin, minimum,
//   maximum) over the last 64 packets: the delay covers the jitter actually seen, within the
//   configured bounds, and follows clock drift (which moves min and max together).
// - Adapting is done in whole frames, so the playout point stays on the packets' 20 ms grid:
//   shrinking skips a frame and growing replays one, each with a 5 ms crossfade from where the
//   output was, so neither clicks. When the frame is missing anyway, the point just moves.
// - Loss. A missing frame is concealed by playing the last good frame alternately backwards and
//   forwards (every joint is continuous: each copy starts on the sample the previous ended on)
//   under a gain falling to zero over three frames; then silence. The first good frame after a
//   gap is crossfaded in from the concealment's continuation. Never a step, so never a click.
// - Discontinuities: a new SSRC resets the buffer; a timestamp jump of more than the ring's
//   reach (sender restart, a stream switched under the same SSRC) re-anchors playout.
import AudioBridgeCore

public struct JitterBufferSettings: Equatable, Sendable {
    /// Bounds of the delay added to the earliest packets, milliseconds.
    public var minimumDelayMilliseconds = 20
    public var maximumDelayMilliseconds = 200
    /// Samples per frame read (160: 20 ms at 8 kHz).
    public var frameSamples = 160

    public init() {}

    public init(minimumDelayMilliseconds: Int, maximumDelayMilliseconds: Int, frameSamples: Int = 160) {
        self.minimumDelayMilliseconds = minimumDelayMilliseconds
        self.maximumDelayMilliseconds = maximumDelayMilliseconds
        self.frameSamples = frameSamples
    }

    public var isValid: Bool {
        frameSamples > 0 && frameSamples <= 480 && minimumDelayMilliseconds >= 0
            && maximumDelayMilliseconds >= minimumDelayMilliseconds && maximumDelayMilliseconds <= 1000
    }
}

public struct JitterBufferStatistics: Equatable, Sendable {
    /// Delay now added to the earliest packets, milliseconds (playout offset − min transit).
    public var delayMilliseconds = 0
    /// The delay the buffer aims for, milliseconds.
    public var targetDelayMilliseconds = 0
    public var packetsStored: UInt64 = 0
    /// Packets that arrived after their whole time to play had passed (dropped).
    public var late: UInt64 = 0
    public var duplicates: UInt64 = 0
    /// Packets too far ahead of playout to hold (dropped).
    public var tooEarly: UInt64 = 0
    public var framesPlayed: UInt64 = 0
    /// Frames that were missing and concealed (fading repeat of the last good frame).
    public var framesConcealed: UInt64 = 0
    /// Frames of silence: before the first packet, and in gaps once concealment has faded out.
    public var framesSilent: UInt64 = 0
    /// Frames skipped to shrink the delay / replayed to grow it.
    public var framesSkipped: UInt64 = 0
    public var framesRepeated: UInt64 = 0
    /// Re-anchorings after a timestamp jump, and resets for a new SSRC.
    public var resynchronisations: UInt64 = 0
    public var sourceChanges: UInt64 = 0

    public init() {}
}

public final class JitterBuffer {
    /// The most samples one packet may carry: a G.711 payload filling a 1,500-byte datagram
    /// after the RTP header. Larger packets are refused as too early.
    public static let maximumPacketSamples = 1_488

    public enum InsertResult: Equatable, Sendable {
        case stored, duplicate, late, tooEarly
    }

    public enum FrameKind: Equatable, Sendable {
        /// Received audio.
        case audio
        /// Missing audio replaced by concealment.
        case concealed
        /// Silence: nothing received yet, or a gap longer than concealment lasts.
        case silence
    }

    public let settings: JitterBufferSettings
    public private(set) var statistics = JitterBufferStatistics()

    private let frame: Int
    private let capacity: Int
    private let mask: Int
    private let samples: UnsafeMutableBufferPointer<Int16>
    private let tags: UnsafeMutableBufferPointer<Int64>
    private let minimumDelay: Int64
    private let maximumDelay: Int64
    private static let margin: Int64 = 40
    private static let crossfade = 40
    private static let concealmentFrames = 3
    private static let transitWindow = 64

    // Stream state.
    private var ssrc: UInt32 = 0
    private var hasStream = false
    private var anchored = false
    /// Extended timestamp of the next sample to play.
    private var playPosition: Int64 = 0
    /// Extended timestamp of the newest packet, the reference for unwrapping.
    private var newest: Int64 = 0
    /// Packet grid: extended timestamp of the first packet (frames are read on its grid).
    private var gridOrigin: Int64 = 0
    // Duplicate detection: highest extended sequence number and a bitmap of the 64 before it.
    private var highestSequence: Int64 = 0
    private var sequenceBits: UInt64 = 0
    // Transits of the last packets.
    private let transits: UnsafeMutableBufferPointer<Int64>
    private var transitCount = 0
    private var transitNext = 0
    // Concealment.
    private let lastGood: UnsafeMutableBufferPointer<Int16>
    private let scratch: UnsafeMutableBufferPointer<Int16>
    private var hasLastGood = false
    /// Concealed frames since the last good one (0: the previous frame was good or silence).
    private var concealedRun = 0
    private var previousWasConcealedOrSilent = true

    public init(settings: JitterBufferSettings = JitterBufferSettings()) throws(AudioBridgeError) {
        guard settings.isValid else { throw .invalidArgument }
        self.settings = settings
        frame = settings.frameSamples
        minimumDelay = Int64(settings.minimumDelayMilliseconds * 8)
        maximumDelay = Int64(settings.maximumDelayMilliseconds * 8)
        // Room for the largest delay, the largest packet arriving at once (early by its whole
        // length), a few frames, and the frames just played (replayed when growing).
        var capacity = 1024
        while capacity < Int(maximumDelay) + 2 * Self.maximumPacketSamples + 8 * frame + 1024 { capacity *= 2 }
        self.capacity = capacity
        mask = capacity - 1
        samples = .allocate(capacity: capacity)
        samples.initialize(repeating: 0)
        tags = .allocate(capacity: capacity)
        tags.initialize(repeating: .min)
        transits = .allocate(capacity: Self.transitWindow)
        transits.initialize(repeating: 0)
        lastGood = .allocate(capacity: frame)
        lastGood.initialize(repeating: 0)
        scratch = .allocate(capacity: frame)
        scratch.initialize(repeating: 0)
    }

    deinit {
        samples.deallocate()
        tags.deallocate()
        transits.deallocate()
        lastGood.deallocate()
        scratch.deallocate()
    }

    /// Bytes allocated for the buffer.
    public var memoryBytes: Int { capacity * 10 + Self.transitWindow * 8 + frame * 4 }

    // MARK: Packets in

    /// Stores one packet's decoded samples. `arrival` is the time it arrived, in samples of the
    /// same clock `read` is given. Realtime-safe.
    @discardableResult
    public func insert(_ packet: UnsafeBufferPointer<Int16>, timestamp: UInt32, sequenceNumber: UInt16, ssrc: UInt32, arrival: Int64) -> InsertResult {
        if !hasStream || ssrc != self.ssrc {
            if hasStream { statistics.sourceChanges &+= 1 }
            reset(ssrc: ssrc, timestamp: timestamp, sequenceNumber: sequenceNumber)
        } else if isDuplicate(sequenceNumber) {
            statistics.duplicates &+= 1
            return .duplicate
        }
        let count = packet.count
        guard count <= Self.maximumPacketSamples else {
            statistics.tooEarly &+= 1
            return .tooEarly
        }
        let position = newest + Int64(Int32(bitPattern: timestamp &- UInt32(truncatingIfNeeded: newest)))
        let transit = arrival - position
        // A transit far from the others means the sender's timeline moved (a restart, another
        // stream under the same SSRC): re-anchor on this packet.
        if transitCount > 0, abs(transit - minimumTransit()) > Int64(capacity) {
            statistics.resynchronisations &+= 1
            anchored = false
            forgetTransits()
            gridOrigin = position
            tags.update(repeating: .min)
        }
        if anchored, position + Int64(count) > playPosition + Int64(capacity - frame) {
            statistics.tooEarly &+= 1
            return .tooEarly
        }
        newest = max(newest, position)
        recordTransit(transit)

        if anchored, position + Int64(count) <= playPosition {
            statistics.late &+= 1
            return .late
        }
        for i in 0..<count {
            let t = position + Int64(i)
            if anchored, t < playPosition { continue }
            samples[Int(t) & mask] = packet[i]
            tags[Int(t) & mask] = t
        }
        statistics.packetsStored &+= 1
        return .stored
    }

    private func reset(ssrc: UInt32, timestamp: UInt32, sequenceNumber: UInt16) {
        self.ssrc = ssrc
        hasStream = true
        anchored = false
        newest = Int64(timestamp)
        gridOrigin = newest
        highestSequence = Int64(sequenceNumber)
        sequenceBits = 1
        forgetTransits()
        tags.update(repeating: .min)
    }

    /// Marks the sequence number seen; true if it was already.
    private func isDuplicate(_ sequenceNumber: UInt16) -> Bool {
        let extended = highestSequence + Int64(Int16(bitPattern: sequenceNumber &- UInt16(truncatingIfNeeded: highestSequence)))
        if extended > highestSequence {
            let shift = extended - highestSequence
            sequenceBits = shift >= 64 ? 0 : sequenceBits << shift
            sequenceBits |= 1  // bit n: highestSequence − n was seen
            highestSequence = extended
            return false
        }
        let age = highestSequence - extended
        guard age < 64 else { return false }
        if sequenceBits & (1 << age) != 0 { return true }
        sequenceBits |= 1 << age
        return false
    }

    private func forgetTransits() {
        transitCount = 0
        transitNext = 0
    }

    private func recordTransit(_ transit: Int64) {
        transits[transitNext] = transit
        transitNext = (transitNext + 1) % Self.transitWindow
        transitCount = min(transitCount + 1, Self.transitWindow)
    }

    private func minimumTransit() -> Int64 {
        var low = Int64.max
        for i in 0..<transitCount { low = min(low, transits[i]) }
        return low
    }

    /// (offset the buffer aims for, minimum transit).
    private func target() -> (offset: Int64, minimumTransit: Int64) {
        var low = Int64.max, high = Int64.min
        for i in 0..<transitCount {
            low = min(low, transits[i])
            high = max(high, transits[i])
        }
        let delay = min(max(high - low + Self.margin, minimumDelay), maximumDelay)
        return (low + delay, low)
    }

    // MARK: Frames out

    /// Writes the next `frameSamples` samples to play into `out`. `now` is the current time on
    /// the clock `insert` is given. Realtime-safe.
    @discardableResult
    public func read(into out: UnsafeMutableBufferPointer<Int16>, now: Int64) -> FrameKind {
        guard out.count >= frame else { return .silence }
        guard hasStream, transitCount > 0 else { return silence(out) }
        let (offsetWanted, minimumTransit) = target()
        if !anchored { anchor(desired: now - offsetWanted) }
        statistics.delayMilliseconds = Int((now - playPosition - minimumTransit) / 8)
        statistics.targetDelayMilliseconds = Int((offsetWanted - minimumTransit) / 8)
        return readAdapting(error: (now - playPosition) - offsetWanted, into: out)
    }

    /// Places the playout point at `desired`, moved onto the packet grid (at most a frame
    /// earlier, so the first packet waits at least the target).
    private func anchor(desired: Int64) {
        let n = Int64(frame)
        let framesBefore = (gridOrigin - desired + n - 1).floorDivided(by: n)
        playPosition = gridOrigin - framesBefore * n
        anchored = true
    }

    /// Reads the next frame, moving the playout point one frame toward the target when it is
    /// off by more than the hysteresis: a frame replayed when packets risk being late, one
    /// skipped when the delay is longer than needed. Only where it cannot click: crossfaded
    /// between two received frames, or by stalling / skipping inside a gap.
    private func readAdapting(error: Int64, into out: UnsafeMutableBufferPointer<Int16>) -> FrameKind {
        let n = Int64(frame)
        let step: Int64 = error < -Self.margin / 2 ? -n : (error > n + Self.margin ? n : 0)
        guard step != 0 else { return readFrame(at: playPosition, into: out) }
        let current = isPresent(playPosition)
        let other = playPosition + step
        if current, isPresent(other), !previousWasConcealedOrSilent {
            copyFrame(at: playPosition, into: scratch)
            copyFrame(at: other, into: out)
            for i in 0..<Self.crossfade {
                let w = Int32(i + 1), total = Int32(Self.crossfade + 1)
                out[i] = Int16((Int32(scratch[i]) * (total - w) + Int32(out[i]) * w) / total)
            }
            playPosition = other + n
            finishGoodFrame(out)
            count(step)
            return .audio
        }
        if !current, step < 0 {
            // Inside a gap: play the concealment (or silence) without advancing.
            let kind = readFrame(at: playPosition, into: out)
            playPosition -= n
            count(step)
            return kind
        }
        if !current, step > 0, previousWasConcealedOrSilent {
            // Inside a gap: skip the missing frame; the next is crossfaded in from concealment.
            playPosition = other
            count(step)
        }
        return readFrame(at: playPosition, into: out)
    }

    private func count(_ step: Int64) {
        if step < 0 { statistics.framesRepeated &+= 1 } else { statistics.framesSkipped &+= 1 }
    }

    private func readFrame(at position: Int64, into out: UnsafeMutableBufferPointer<Int16>) -> FrameKind {
        let n = frame
        var present = 0
        for i in 0..<n where tags[Int(position + Int64(i)) & mask] == position + Int64(i) { present += 1 }
        playPosition = position + Int64(n)
        if present == n {
            copyFrame(at: position, into: out)
            if previousWasConcealedOrSilent, hasLastGood {
                // Crossfade in from where concealment would have gone on.
                for i in 0..<Self.crossfade {
                    let w = Int32(i + 1), total = Int32(Self.crossfade + 1)
                    out[i] = Int16((Int32(concealmentSample(run: concealedRun, index: i)) * (total - w) + Int32(out[i]) * w) / total)
                }
            } else if previousWasConcealedOrSilent {
                // The very first audio: fade in, as it may start mid-waveform.
                for i in 0..<Self.crossfade { out[i] = Int16(Int32(out[i]) * Int32(i + 1) / Int32(Self.crossfade + 1)) }
            }
            finishGoodFrame(out)
            return .audio
        }
        guard hasLastGood, concealedRun < Self.concealmentFrames else { return silence(out) }
        for i in 0..<n {
            let t = position + Int64(i)
            // Samples that did arrive (a frame half covered by a packet of another size) are kept.
            out[i] = tags[Int(t) & mask] == t ? samples[Int(t) & mask] : concealmentSample(run: concealedRun, index: i)
        }
        concealedRun += 1
        previousWasConcealedOrSilent = true
        statistics.framesConcealed &+= 1
        return .concealed
    }

    private func finishGoodFrame(_ out: UnsafeMutableBufferPointer<Int16>) {
        for i in 0..<frame { lastGood[i] = out[i] }
        hasLastGood = true
        concealedRun = 0
        previousWasConcealedOrSilent = false
        statistics.framesPlayed &+= 1
    }

    private func silence(_ out: UnsafeMutableBufferPointer<Int16>) -> FrameKind {
        for i in 0..<frame { out[i] = 0 }
        if hasLastGood { concealedRun = Self.concealmentFrames }
        previousWasConcealedOrSilent = true
        statistics.framesSilent &+= 1
        return .silence
    }

    /// Sample `index` of concealment frame `run` (0-based): the last good frame, backwards on
    /// even runs and forwards on odd ones, under a gain falling linearly to 0 over the frames.
    private func concealmentSample(run: Int, index: Int) -> Int16 {
        let n = frame
        guard run < Self.concealmentFrames else { return 0 }
        let source = run % 2 == 0 ? lastGood[n - 1 - index] : lastGood[index]
        let total = Int32(Self.concealmentFrames * n)
        let elapsed = Int32(run * n + index)
        return Int16(Int32(source) * (total - elapsed) / total)
    }

    private func isPresent(_ position: Int64) -> Bool {
        for i in 0..<frame where tags[Int(position + Int64(i)) & mask] != position + Int64(i) { return false }
        return true
    }

    private func copyFrame(at position: Int64, into out: UnsafeMutableBufferPointer<Int16>) {
        for i in 0..<frame { out[i] = samples[Int(position + Int64(i)) & mask] }
    }
}

extension Int64 {
    /// Division rounding toward −∞.
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }
}
