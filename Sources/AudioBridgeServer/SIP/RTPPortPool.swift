// SPDX-License-Identifier: MIT
// The RTP ports of SIP calls (`--rtp-ports LO-HI`): one even port per call (RTCP, unused, would
// take the odd one above), handed out round-robin so a port just given back is not reused at
// once (late packets of the old call would land in the new one). Touched at call set-up and
// end only, under a lock.
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

final class RTPPortPool: Sendable {
    private struct State {
        var inUse = Set<Int>()
        var next: Int
    }

    let range: ClosedRange<Int>
    private let state: NIOLockedValueBox<State>

    init(_ range: ClosedRange<Int>) throws {
        let first = range.lowerBound + range.lowerBound % 2
        guard first >= 1024, first <= min(range.upperBound, 65_534) else { throw SIPServerError.badPortRange(range) }
        self.range = range
        state = NIOLockedValueBox(State(next: first))
    }

    private var evenPorts: Int { (min(range.upperBound, 65_534) - (range.lowerBound + range.lowerBound % 2)) / 2 + 1 }

    /// Binds a UDP socket on the next free even port on `loop` (blocking: not from an event
    /// loop), with `handlers` in its pipeline; another process's port is skipped.
    func bind(host: String, group loop: any EventLoop, handlers: @escaping @Sendable () -> [ChannelHandler]) throws -> (Channel, Int) {
        for _ in 0..<evenPorts {
            guard let port = take() else { break }
            do {
                let channel = try DatagramBootstrap(group: loop)
                    .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandlers(handlers()) } }
                    .bind(host: host, port: port).wait()
                return (channel, port)
            } catch {
                release(port)
                continue
            }
        }
        throw SIPServerError.noRTPPort(range)
    }

    func release(_ port: Int) { _ = state.withLockedValue { $0.inUse.remove(port) } }

    private func take() -> Int? {
        let first = range.lowerBound + range.lowerBound % 2
        let last = min(range.upperBound, 65_534)
        return state.withLockedValue { state in
            for _ in 0..<evenPorts {
                let port = state.next
                state.next = port + 2 > last ? first : port + 2
                if !state.inUse.contains(port) {
                    state.inUse.insert(port)
                    return port
                }
            }
            return nil
        }
    }
}
