// SPDX-License-Identifier: MIT
// The little state the session's threads share besides the rings: atomics only, each with the
// thread that writes it named.
import Synchronization

/// Counters any thread may read (relaxed: they are statistics, not synchronisation).
public struct SessionStatistics: Equatable, Sendable {
    public var framesIn: UInt64 = 0
    public var framesOut: UInt64 = 0
    /// Frames during agent playout that ran short of audio and were padded with silence.
    public var underrunFrames: UInt64 = 0
    /// Caller samples dropped because the agent side did not read the uplink.
    public var uplinkDroppedSamples: UInt64 = 0
    /// Agent samples (at 8 kHz) thrown away by barge-ins and interrupts, queued or late.
    public var downlinkDiscardedSamples: UInt64 = 0
    /// Committed barge-ins (playout cut), by the caller's speech or an interrupt request.
    public var bargeIns: UInt64 = 0
    /// Pauses for a possible barge-in, and those of them that resumed without one.
    public var bargeInPauses: UInt64 = 0
    public var bargeInResumes: UInt64 = 0
    /// Host events lost because the host did not poll (each also reported by an event).
    public var eventsDropped: UInt64 = 0
    /// Agent-side notifications lost because the agent side did not poll.
    public var agentEventsDropped: UInt64 = 0

    public init() {}
}

final class SessionShared: Sendable {
    /// Bumped by any thread to ask the media thread to cut playout (`Session.interrupt`).
    let interruptRequests = Atomic<UInt64>(0)
    /// Bumped by any thread when the agent side confirms the caller's speech
    /// (`Session.confirmBargeIn`): a pause in progress is committed.
    let bargeInConfirmations = Atomic<UInt64>(0)
    /// The last interrupt request the media side has carried out (cut and flush done).
    let interruptsHandled = Atomic<UInt64>(0)
    /// Bumped by the media thread each time it cuts playout; playout markers carry the value
    /// the agent side saw, so audio queued before a cut can be told from audio sent after it.
    let flushGeneration = Atomic<UInt64>(0)
    /// The item the last cut interrupted (media thread writes, agent side reads).
    let interruptedItem = Atomic<UInt64>(0)
    /// Milliseconds of caller audio processed (media thread writes): the event clock.
    let mediaTimeMilliseconds = Atomic<UInt64>(0)
    let eventSequence = Atomic<UInt64>(0)

    let framesIn = Atomic<UInt64>(0)
    let framesOut = Atomic<UInt64>(0)
    let underrunFrames = Atomic<UInt64>(0)
    let uplinkDroppedSamples = Atomic<UInt64>(0)
    let downlinkDiscardedSamples = Atomic<UInt64>(0)
    let bargeIns = Atomic<UInt64>(0)
    let bargeInPauses = Atomic<UInt64>(0)
    let bargeInResumes = Atomic<UInt64>(0)
    let eventsDropped = Atomic<UInt64>(0)
    let agentEventsDropped = Atomic<UInt64>(0)

    func statistics() -> SessionStatistics {
        var s = SessionStatistics()
        s.framesIn = framesIn.load(ordering: .relaxed)
        s.framesOut = framesOut.load(ordering: .relaxed)
        s.underrunFrames = underrunFrames.load(ordering: .relaxed)
        s.uplinkDroppedSamples = uplinkDroppedSamples.load(ordering: .relaxed)
        s.downlinkDiscardedSamples = downlinkDiscardedSamples.load(ordering: .relaxed)
        s.bargeIns = bargeIns.load(ordering: .relaxed)
        s.bargeInPauses = bargeInPauses.load(ordering: .relaxed)
        s.bargeInResumes = bargeInResumes.load(ordering: .relaxed)
        s.eventsDropped = eventsDropped.load(ordering: .relaxed)
        s.agentEventsDropped = agentEventsDropped.load(ordering: .relaxed)
        return s
    }
}

/// Adds to a statistics counter; only ever called by that counter's one writer thread.
@inline(__always)
func count(_ counter: borrowing Atomic<UInt64>, _ amount: Int = 1) {
    counter.wrappingAdd(UInt64(truncatingIfNeeded: amount), ordering: .relaxed)
}
