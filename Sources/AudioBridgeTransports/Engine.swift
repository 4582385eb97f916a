// SPDX-License-Identifier: MIT
// The engine owns the I/O thread that drives transports attached to sessions. Every tick it
// moves each session's uplink audio and agent-side events to its transport and lets the
// transport push downlink audio. The media thread is never involved: it only meets the engine
// through the session's rings.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AudioBridgeCore
import AudioBridgeSession
import Synchronization

public final class Engine: Sendable {
    /// How often the I/O thread services transports.
    public let tickMicroseconds: UInt32
    private let attachments = ProtectedList<Attachment>()
    private let running = Atomic<Bool>(true)
    private let thread: IOThread

    /// Starts the engine's I/O thread, or, with `ownThread: false`, leaves the ticking to the
    /// caller's I/O loop (`serviceOnce`), as tests and event-loop servers do. Control thread.
    public init(tickMilliseconds: Int = 5, ownThread: Bool = true) throws(AudioBridgeError) {
        guard (1...100).contains(tickMilliseconds) else { throw .invalidArgument }
        G711.warmUp()  // the G.711 tables, built here rather than by a host's first ab_ulaw_* call
        tickMicroseconds = UInt32(tickMilliseconds * 1000)
        serviceBuffer = .allocate(byteCount: 8192, alignment: 16)
        thread = IOThread()
        if ownThread { try thread.start(self) }
    }

    /// Services every attachment once, on the calling thread: only for an engine created with
    /// `ownThread: false`, from one thread at a time.
    public func serviceOnce() { tick(buffer: serviceBuffer) }

    // SAFETY: used only by serviceOnce, which is documented single-threaded.
    nonisolated(unsafe) private let serviceBuffer: UnsafeMutableRawBufferPointer

    /// Stops the I/O thread and closes every transport still attached. Control thread.
    public func shutdown() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        thread.join()
        let remaining = attachments.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for attachment in remaining { attachment.finish() }
    }

    deinit {
        shutdown()
        serviceBuffer.deallocate()
    }

    /// Attaches `transport` to `session` (one transport per session); calls its `attached(to:)`
    /// first, here, and reports `transportConnected`. Control thread.
    public func attach(_ transport: AgentTransport, to session: Session) throws(AudioBridgeError) {
        guard running.load(ordering: .acquiring) else { throw .invalidState }
        let attachment = Attachment(session: session, transport: transport)
        // attached(to:) runs under the lock, so the I/O thread cannot call the transport first.
        let added = attachments.withLock { list -> Bool in
            guard !list.contains(where: { $0.session === session }) else { return false }
            transport.attached(to: session)
            session.agent.report(SessionEvent(kind: .transportConnected))
            list.append(attachment)
            return true
        }
        guard added else { throw .invalidState }
    }

    /// Detaches whatever transport `session` has; its `close()` is the last call it gets, made
    /// here once the I/O thread is done with it. Returns false if none was attached. Control
    /// thread; never from inside a transport callback (it would wait for itself).
    @discardableResult
    public func detach(_ session: Session) -> Bool {
        let removed = attachments.withLock { list -> Attachment? in
            guard let index = list.firstIndex(where: { $0.session === session }) else { return nil }
            return list.remove(at: index)
        }
        guard let removed else { return false }
        removed.finish()
        return true
    }

    /// One pass over every attachment. Runs on the I/O thread, under the attachment lock, so a
    /// detach waits for the pass to end and nothing is called after `close()`.
    fileprivate func tick(buffer: UnsafeMutableRawBufferPointer) {
        attachments.withLock { list in
            // Borrowed, not retained: the list cannot change under the lock, and a retain and
            // release of each of a thousand attachments every tick touches as many cold cache lines.
            list.withUnsafeBufferPointer { attachments in
                for index in attachments.indices {
                    // The next attachment's memory is fetched while this one is serviced, and
                    // the attachment after it (whose list that is) a turn before.
                    if index + 2 < attachments.count {
                        HotMemory.prefetch(Unmanaged.passUnretained(attachments[index + 2]), lines: Attachment.lines)
                    }
                    if index + 1 < attachments.count {
                        Unmanaged.passUnretained(attachments[index + 1])._withUnsafeGuaranteedRef { $0.memory.prefetch() }
                    }
                    Unmanaged.passUnretained(attachments[index])._withUnsafeGuaranteedRef { $0.service(buffer: buffer) }
                }
            }
        }
    }

    fileprivate var isRunning: Bool { running.load(ordering: .acquiring) }
}

/// A transport attached to a session.
final class Attachment: @unchecked Sendable {
    // SAFETY: used by the I/O thread under the engine's lock, and by the control thread only
    // after it has been removed from the engine's list under that lock.
    let session: Session
    /// `session.agent`, called without reference counting: the session (held above) owns it,
    /// and a call through a field of another object (or an unowned one) is compiled as a retain
    /// and a release around it, every tick.
    private let agent: Unmanaged<AgentEnd>
    let transport: AgentTransport
    /// What `service` touches of the session and the transport (AudioBridgeCore's HotMemory).
    let memory: HotMemory
    /// An attachment's cache lines: its list and, in under a line more, its other fields.
    static var lines: Int { (MemoryLayout<HotMemory>.size + 2 * HotMemory.lineBytes - 1) / HotMemory.lineBytes }

    init(session: Session, transport: AgentTransport) {
        self.session = session
        agent = Unmanaged.passUnretained(session.agent)
        self.transport = transport
        var memory = session.agentServiceMemory
        memory.add(transport)
        self.memory = memory
    }

    func service(buffer: UnsafeMutableRawBufferPointer) {
        agent._withUnsafeGuaranteedRef { agent in
            while true {
                let bytes = agent.readUplink(into: buffer)
                guard bytes > 0 else { break }
                let status = transport.send(uplink: UnsafeRawBufferPointer(rebasing: buffer[..<bytes]))
                if status < 0 { agent.report(SessionEvent(kind: .transportError, code: status)) }
            }
            while let event = agent.pollNotification() { transport.handle(event) }
        }
        transport.poll(session)
    }

    func finish() {
        transport.close()
        session.agent.report(SessionEvent(kind: .transportDisconnected))
    }
}

/// The engine's I/O thread: a plain pthread (no Foundation in the library).
final class IOThread: @unchecked Sendable {
    // SAFETY: `handle` is written by start() before the thread exists and read by join().
    private var handle = pthread_t()
    private var started = false

    func start(_ engine: Engine) throws(AudioBridgeError) {
        let context = Unmanaged.passRetained(EngineReference(engine)).toOpaque()
        let status = pthread_create(&handle, nil, { raw in
            let reference = Unmanaged<EngineReference>.fromOpaque(raw!).takeRetainedValue()
            reference.run()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<EngineReference>.fromOpaque(context).release()
            throw .outOfMemory
        }
        started = true
    }

    func join() {
        guard started else { return }
        started = false
        pthread_join(handle, nil)
    }
}

/// What the I/O thread holds: a weak reference, so the engine can be released while it runs.
final class EngineReference {
    weak var engine: Engine?
    init(_ engine: Engine) { self.engine = engine }

    func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            // Hold the engine only while ticking, so its last release never happens in a sleep here.
            var interval: UInt32 = 0
            do {
                guard let engine, engine.isRunning else { return }
                engine.tick(buffer: buffer)
                interval = engine.tickMicroseconds
            }
            usleep(interval)
        }
    }
}
