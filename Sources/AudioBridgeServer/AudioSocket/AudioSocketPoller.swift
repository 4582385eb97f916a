// SPDX-License-Identifier: MIT
// One event loop's AudioSocket connections, polled on the pacer's clock instead of through
// SwiftNIO's channels. A loaded server's profile showed NIO's per-read and per-write machinery
// (pipeline traversal, NIOAny boxing, promises, pending-write queues: about a fifth of the
// server's CPU at 1,000 calls) costing more than the call's own audio work; AudioSocket needs
// none of it: a frame in and a frame out every 20 ms on a plain TCP socket. So the connections'
// sockets sit in this loop's own epoll set, which the loop's pacer asks for ready sockets
// (`epoll_wait` with no timeout) after each of its 5 ms slots: one system call finds every
// socket with something to read, each is read once into one shared buffer, and frames go out
// with one `send` each. Reading stops when the next slot is due (a burst must not make its
// frames late) and goes on after them: a read waits a slot, and under a burst on a loaded loop
// a few; the calls themselves (agents, pipeline, events) stay on the NIO event loop as for
// every other transport. Everything here runs on that loop.
import AudioBridgeCore
import CEpoll
import Glibc
import Logging
import NIOCore

final class AudioSocketPoller: PacedInput {
    let eventLoop: any EventLoop
    let pacer: CallPacer
    /// The server whose calls these are, set once before it starts; nil for tests that drive a
    /// connection themselves.
    var server: AudioSocketServer?
    private let epoll: Int32
    /// Every open connection, by its socket: what keeps them alive. The epoll entries carry the
    /// connection's address (unretained), so a ready event needs no lookup and no reference
    /// counting (a dictionary lookup and a retain per read were a measurable share at 1,000 calls).
    private var connections: [Int32: AudioSocketConnection] = [:]
    /// Connections that closed during a poll, kept until it ends: a ready event may still name
    /// one, and the one being read must not be freed under its own method.
    private var retired: [AudioSocketConnection] = []
    private var polling = false
    private let events: UnsafeMutableBufferPointer<epoll_event>
    /// Every read lands here first (whole audio messages go on from here, the decoder copies the
    /// rest): one buffer per loop instead of one per connection.
    private let readBuffer: UnsafeMutableRawBufferPointer
    /// The time of the current poll: read once per poll, not per socket.
    private(set) var now = NIODeadline.now()
    private var polls = 0
    /// Polls that stopped at their deadline with sockets left to read.
    private(set) var deferredPolls = 0
    /// Idle connections are looked for once a second (every 200 polls of 5 ms).
    private static let idleCheckPolls = 200
    /// What `readable` reads of a connection before its `recv` lies in its first lines.
    private static let connectionLines = 3
    /// The clock is read once per this many sockets read (each takes microseconds with its
    /// caller frame, a clock read tens of nanoseconds).
    static let socketsPerClockRead = 16

    init(eventLoop: any EventLoop, pacer: CallPacer) throws {
        self.eventLoop = eventLoop
        self.pacer = pacer
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { throw IOError(errnoCode: errno, reason: "epoll_create1") }
        events = .allocate(capacity: 256)
        readBuffer = .allocate(byteCount: 65_536, alignment: 16)
        pacer.input = self
    }

    deinit {
        Glibc.close(epoll)
        events.deallocate()
        readBuffer.deallocate()
    }

    var hasConnections: Bool { !connections.isEmpty }
    var connectionCount: Int { connections.count }

    /// Takes over an accepted, non-blocking socket.
    @discardableResult
    func adopt(_ socket: Int32, maximumPayload: Int = 16_384) -> AudioSocketConnection? {
        let connection = AudioSocketConnection(socket: socket, poller: self, server: server, maximumPayload: maximumPayload, now: .now())
        guard watch(connection, for: UInt32(EPOLLIN.rawValue)) else {
            server?.logger.warning("cannot watch a new connection: errno \(errno)")
            Glibc.close(socket)
            return nil
        }
        connections[socket] = connection
        pacer.wake()
        return connection
    }

    /// Sets what epoll reports for the connection's socket (adds it the first time).
    @discardableResult
    func watch(_ connection: AudioSocketConnection, for mask: UInt32, adding: Bool = true) -> Bool {
        var event = epoll_event()
        event.events = mask
        event.data.ptr = Unmanaged.passUnretained(connection).toOpaque()
        return epoll_ctl(epoll, adding ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, connection.socket, &event) == 0
    }

    /// The connection is closing: forget its socket (the connection closes it).
    func remove(_ connection: AudioSocketConnection) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, connection.socket, nil)
        guard let removed = connections.removeValue(forKey: connection.socket) else { return }
        if polling { retired.append(removed) }
    }

    /// Reads every socket that has something, once (the pacer calls this after each slot), or
    /// as many as it can before `deadline`: epoll is level-triggered, so a socket not read by
    /// then is returned again by the next poll.
    func poll(until deadline: NIODeadline = .distantFuture) {
        guard !connections.isEmpty else { return }
        now = .now()
        polling = true
        reading: while true {
            let count = Int(epoll_wait(epoll, events.baseAddress, Int32(events.count), 0))
            guard count > 0 else { break }
            for index in 0..<count {
                if index % Self.socketsPerClockRead == 0, index > 0 {
                    now = .now()
                    if now >= deadline {
                        deferredPolls += 1
                        server?.services.metrics[.audioSocket].add(.deferredReads)
                        break reading
                    }
                }
                // Two sockets ahead, the connection object is fetched; one ahead, the call object
                // it points to (holding the list that `readable` prefetches before its `recv`).
                // Alive: in `connections`, or in `retired` if it closed during this poll.
                if index + 2 < count, let ahead = events[index + 2].data.ptr {
                    HotMemory.prefetch(Unmanaged<AudioSocketConnection>.fromOpaque(ahead), lines: Self.connectionLines)
                }
                if index + 1 < count, let next = events[index + 1].data.ptr {
                    Unmanaged<AudioSocketConnection>.fromOpaque(next)._withUnsafeGuaranteedRef { $0.prefetchCall() }
                }
                let event = events[index]
                guard let address = event.data.ptr else { continue }
                Unmanaged<AudioSocketConnection>.fromOpaque(address)._withUnsafeGuaranteedRef { connection in
                    if event.events & UInt32(EPOLLOUT.rawValue) != 0 { connection.writable() }
                    if event.events & UInt32(EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { connection.readable(into: readBuffer) }
                }
            }
            // A full batch may have left ready sockets behind; level-triggered epoll returns them.
            guard count == events.count else { break }
        }
        polling = false
        retired.removeAll()
        polls &+= 1
        if polls % Self.idleCheckPolls == 0, let server { closeIdle(after: .seconds(server.configuration.idleTimeoutSeconds)) }
    }

    /// Asterisk sends a frame every 20 ms: a connection silent for `limit` is gone.
    private func closeIdle(after limit: TimeAmount) {
        for connection in connections.values where now - connection.lastRead > limit {
            connection.closeIdle()
        }
    }

    /// Hangs up every connection (shutdown); the future completes when all are closed.
    func hangUpAll() -> EventLoopFuture<Void> {
        let closing = connections.values.map { connection in
            connection.hangUp()
            return connection.closed.futureResult
        }
        return EventLoopFuture.andAllComplete(closing, on: eventLoop)
    }
}
