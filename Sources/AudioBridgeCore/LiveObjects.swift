// SPDX-License-Identifier: MIT
// How many sessions, calls and agents are alive in this process. Each such object holds a
// `LiveObject` token, whose init counts it in and whose deinit counts it out, so the counts
// follow the objects' real lifetimes: one that stays up after every call has ended is a leak
// (a retain cycle, a table that forgot to let go). The server exports them in /metrics.
import Synchronization

public enum LiveObjectKind: Int, CaseIterable, Sendable {
    case session, call, agent

    public var name: String {
        switch self {
        case .session: "session"
        case .call: "call"
        case .agent: "agent"
        }
    }
}

public enum LiveObjects {
    private static let sessions = Atomic<Int>(0)
    private static let calls = Atomic<Int>(0)
    private static let agents = Atomic<Int>(0)

    /// The number of `kind` objects alive now. Any thread.
    public static func count(_ kind: LiveObjectKind) -> Int {
        switch kind {
        case .session: sessions.load(ordering: .relaxed)
        case .call: calls.load(ordering: .relaxed)
        case .agent: agents.load(ordering: .relaxed)
        }
    }

    fileprivate static func add(_ kind: LiveObjectKind, _ delta: Int) {
        switch kind {
        case .session: sessions.wrappingAdd(delta, ordering: .relaxed)
        case .call: calls.wrappingAdd(delta, ordering: .relaxed)
        case .agent: agents.wrappingAdd(delta, ordering: .relaxed)
        }
    }
}

/// Held by a session, call or agent for its lifetime: counted in at creation, out at deinit.
public final class LiveObject: Sendable {
    public let kind: LiveObjectKind

    public init(_ kind: LiveObjectKind) {
        self.kind = kind
        LiveObjects.add(kind, 1)
    }

    deinit { LiveObjects.add(kind, -1) }
}
