// SPDX-License-Identifier: MIT
// Who may start a call now: one per process, shared by every transport. `--max-calls` bounds
// the calls in progress across all of them; a drain (the first SIGTERM) refuses every new one
// while the running calls go on. Each transport refuses in its own protocol's way and counts it.
import Synchronization

public final class CallAdmission: Sendable {
    public enum Refusal: Sendable, Equatable {
        case atLimit
        case draining
    }

    /// Calls in progress at most; nil: no limit.
    public let maximumCalls: Int?
    private let active = Atomic<Int>(0)
    private let ended = Atomic<Int>(0)
    private let draining = Atomic<Bool>(false)

    public init(maximumCalls: Int? = nil) { self.maximumCalls = maximumCalls }

    /// Takes a place for a new call, or says why not. Every admitted call calls `release` once.
    func admit() -> Refusal? {
        if draining.load(ordering: .acquiring) { return .draining }
        var current = active.load(ordering: .relaxed)
        while true {
            if let maximumCalls, current >= maximumCalls { return .atLimit }
            let (exchanged, original) = active.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return nil }
            current = original
        }
    }

    /// Why a call would be refused now, without taking a place (before an HTTP upgrade).
    func wouldRefuse() -> Refusal? {
        if draining.load(ordering: .acquiring) { return .draining }
        if let maximumCalls, active.load(ordering: .relaxed) >= maximumCalls { return .atLimit }
        return nil
    }

    func release() {
        active.wrappingSubtract(1, ordering: .relaxed)
        ended.wrappingAdd(1, ordering: .relaxed)
    }

    /// Calls in progress on every transport.
    public var activeCalls: Int { active.load(ordering: .relaxed) }

    /// Calls that have ended since the process started, on every transport.
    public var endedCalls: Int { ended.load(ordering: .relaxed) }

    /// Refuses every new call from now on (readiness turns false); running calls go on.
    public func startDraining() { draining.store(true, ordering: .releasing) }

    /// Accepting calls: not draining (a full server is still ready; it refuses at the limit).
    public var isAccepting: Bool { !draining.load(ordering: .acquiring) }
}

extension TransportMetrics {
    func count(_ refusal: CallAdmission.Refusal) {
        add(refusal == .atLimit ? .refusedAtLimit : .refusedDraining)
    }
}
