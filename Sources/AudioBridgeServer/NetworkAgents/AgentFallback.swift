// SPDX-License-Identifier: MIT
// What the caller hears while a network agent cannot reach its server: a built-in local agent
// (a tone, a WAV) played into the same session, and cut when the connection is back. The agent
// starts it only once the caller has heard everything the network sent (a drop in the middle of
// an answer lets the answer finish), and not while a call's first connection is still being made
// unless that takes longer than a second (a beep at the start of every call, cut by a clear when
// the handshake completes, would be noise). Its items
// use ids below `firstNetworkItem`, so the network agent can tell their events from its own.
import AudioBridgeSession
import AudioBridgeTransports
import NIOCore

final class AgentFallback {
    /// Network agents number their items from here up.
    static let firstNetworkItem: UInt64 = 1 << 32

    private let agent: AgentTransport?
    private var attached = false
    /// Polled since the network was last connected: it is (or may be) playing.
    private(set) var isPlaying = false
    /// How long a call's first connection may take before the fallback plays.
    static let firstConnectGrace = TimeAmount.seconds(1)
    /// From when the fallback may start while disconnected.
    private var allowedFrom = NIODeadline.now() + firstConnectGrace

    /// A connection failed or dropped: the fallback may play as soon as nothing is queued.
    func connectionEnded() { allowedFrom = .now() }

    /// Whether the fallback may start now (it also waits for the queue to empty).
    var mayStart: Bool { NIODeadline.now() >= allowedFrom }
    /// The interrupt that cut the fallback on reconnect: network audio waits until the media side
    /// has carried it out, or the cut would flush that audio along with the fallback's.
    private var cut: UInt64?

    /// `name` is a built-in agent (tone[:HZ[:MS]], wav:PATH; the server checked it at start);
    /// a `wav:` one plays `file`, read then, so nothing is read from disk on an event loop.
    init(_ name: String, file: WavFile?) {
        if let file {
            agent = try? WavAgent(file: file)
        } else {
            agent = try? LocalAgentURI.makeAgent(name)
        }
    }

    /// Whether `event` concerns one of the fallback's own items (none of the network's business).
    static func isFallbackItem(_ event: SessionEvent) -> Bool { event.item != 0 && event.item < firstNetworkItem }

    /// While disconnected: events and ticks go to the fallback.
    func handle(_ event: SessionEvent) { agent?.handle(event) }

    func poll(_ session: Session) {
        guard let agent else { return }
        if !attached { agent.attached(to: session); attached = true }
        isPlaying = true
        agent.poll(session)
    }

    /// The network is back: stop what the fallback is playing, if it played (otherwise what is
    /// queued is the network's own audio, which must not be cut).
    func connected(_ session: Session?) {
        if isPlaying { cut = session?.interrupt() }
        isPlaying = false
    }

    /// Whether network audio may be written now (the cut, if any, has been carried out).
    func allowsNetworkAudio(_ session: Session) -> Bool {
        guard let request = cut else { return true }
        guard session.interruptHandled(request) else { return false }
        cut = nil
        return true
    }

    func close() { agent?.close() }
}
