// SPDX-License-Identifier: MIT
// A transport connects a session's agent side to something outside: a socket, a model, the
// host's own code, or one of the built-in local agents. The engine's I/O thread drives every
// attached transport (never the media thread):
//
//   attached(to:)         once, first, when the transport is attached (on the attaching thread)
//   send(uplink:)         caller audio for the agent, in the session's agent format
//   handle(_:)            events for the agent side: barge-in (cancel, truncate at the heard
//                         position), speech started/stopped, DTMF, playout started/finished
//   poll(_:)              every tick: push agent audio with session.agent.writeDownlink
//   close()               once, last, when detached or when the session or engine goes away
//
// While attached, the session's agent side belongs to the engine's I/O thread: a transport
// writes downlink audio from `poll` (or `handle`), not from a thread of its own.
import AudioBridgeSession

public protocol AgentTransport: AnyObject {
    func attached(to session: Session)
    /// Returns 0, or a negative status code that is reported to the host as a transport error.
    func send(uplink audio: UnsafeRawBufferPointer) -> Int32
    func handle(_ event: SessionEvent)
    func poll(_ session: Session)
    func close()
}

extension AgentTransport {
    public func attached(to session: Session) {}
    public func handle(_ event: SessionEvent) {}
    public func poll(_ session: Session) {}
    public func close() {}
}
