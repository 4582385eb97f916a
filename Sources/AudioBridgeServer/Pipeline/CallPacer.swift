// SPDX-License-Identifier: MIT
// One pacer per event loop: one timer for all of the loop's calls, not one per call, on absolute
// deadlines (no drift). The 20 ms period is cut into `slotCount` slots; each call gets the least
// busy slot when it starts and keeps it, so it is sent a frame exactly every 20 ms, while the
// loop writes a quarter of its calls every 5 ms instead of all of them in one burst. Bursts are
// what make frames late: with 300 calls on a loop one burst of writes takes several ms, and
// anything that lengthens it (reads arriving, the other thread) shifts every later call.
import AudioBridgeCore
import AudioBridgeTransports
import NIOCore

/// A transport that polls its own sockets on the pacer's clock (AudioSocket) instead of being
/// woken by NIO for every read: the pacer calls it after each slot's frames went out.
protocol PacedInput: AnyObject {
    /// Reads whatever the transport's sockets have (never blocks), until `deadline`, the next
    /// slot's: what is still unread then stays ready and is read after that slot's frames.
    func poll(until deadline: NIODeadline)
    /// The transport has connections, calls or not: the pacer keeps ticking for them.
    var hasConnections: Bool { get }
}

final class CallPacer {
    static let frame = TimeAmount.milliseconds(20)
    static let slotCount = 4
    static let slotInterval = TimeAmount.nanoseconds(frame.nanoseconds / Int64(slotCount))
    let eventLoop: any EventLoop
    /// The agents of all calls on this loop, serviced here (no extra thread), once per frame.
    let engine: Engine
    /// Calls per slot, in arrival order, which stays stable as calls come and go: each call
    /// keeps its place in its slot, so its frames keep their spacing. Unretained: the tick
    /// walks a thousand calls every 20 ms, and a retain and release of each (cold cache lines
    /// in every call object) was a measurable share of a loaded server's CPU. `owners` holds
    /// the strong references, so a call in a slot is alive until `remove` takes it out; a call
    /// removed during a tick (it ended while sending) is kept in `retired` until the tick ends.
    private var slots: [[Unmanaged<CallPipeline>]] = Array(repeating: [], count: slotCount)
    private var owners: [ObjectIdentifier: CallPipeline] = [:]
    private var ticking = false
    private var retired: [CallPipeline] = []
    private var start = NIODeadline.now()
    private var ticks: Int64 = 0
    private var scheduled: Scheduled<Void>?
    /// Polled after each slot; set once, before the first call.
    var input: (any PacedInput)?

    init(eventLoop: any EventLoop) throws {
        self.eventLoop = eventLoop
        engine = try Engine(ownThread: false)
    }

    /// The size of a call pipeline object, its lists included, in cache lines.
    private var pipelineLines = 0

    func add(_ call: CallPipeline) {
        guard owners.updateValue(call, forKey: ObjectIdentifier(call)) == nil else { return }
        pipelineLines = HotMemory.lines(of: call)
        let slot = slots.indices.min { slots[$0].count < slots[$1].count }!
        slots[slot].append(Unmanaged.passUnretained(call))
        wake()
    }

    /// Starts the clock if it is not running (a call came, or the input has a connection).
    func wake() {
        guard scheduled == nil else { return }
        start = .now()
        ticks = 0
        schedule()
    }

    /// Nothing left to pace or poll.
    private var isIdle: Bool { owners.isEmpty && !(input?.hasConnections ?? false) }

    func remove(_ call: CallPipeline) {
        guard let removed = owners.removeValue(forKey: ObjectIdentifier(call)) else { return }
        if ticking { retired.append(removed) }
        for slot in slots.indices { slots[slot].removeAll { $0.toOpaque() == Unmanaged.passUnretained(call).toOpaque() } }
        if isIdle {
            scheduled?.cancel()
            scheduled = nil
        }
    }

    func stop() {
        scheduled?.cancel()
        scheduled = nil
        engine.shutdown()
    }

    private func schedule() {
        ticks += 1
        var deadline = start + CallPacer.slotInterval * ticks
        let now = NIODeadline.now()
        if now - deadline > .milliseconds(200) {
            // The loop was stalled for a long time: restart the clock rather than send a burst.
            // (Slots keep their order: the restart only moves the whole schedule.)
            start = now - CallPacer.slotInterval * ticks + CallPacer.slotInterval
            deadline = now + CallPacer.slotInterval
        }
        scheduled = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            tick(slot: Int(ticks % Int64(CallPacer.slotCount)))
            guard scheduled != nil else { return }  // stopped, or the last call left during the tick
            if isIdle {
                scheduled = nil
            } else {
                schedule()
            }
        }
    }

    private func tick(slot: Int) {
        // The agents run once per frame, ahead of the first slot; their audio waits in each
        // session's playout queue until the call's own slot comes.
        if slot == 0 { engine.serviceOnce() }
        // A copy of the slot's list (one reference to its storage): a call that ends while
        // sending takes itself out of `slots`, which must not change under this loop.
        let calls = slots[slot]
        ticking = true
        calls.withUnsafeBufferPointer { calls in
            for index in calls.indices {
                // The next call's memory is fetched while this one's frame is sent, and the
                // call after it (whose list that is) a turn before.
                if index + 2 < calls.count { HotMemory.prefetch(calls[index + 2], lines: pipelineLines) }
                if index + 1 < calls.count { calls[index + 1]._withUnsafeGuaranteedRef { $0.tickMemory.prefetch() } }
                calls[index]._withUnsafeGuaranteedRef { $0.sendFrame() }
            }
        }
        ticking = false
        retired.removeAll()
        // Reads after the slot's frames are out: what they start (each caller frame through the
        // speech detector) must not delay frames whose time has come. A load generator or a
        // PBX sends many calls' frames in one burst; read in one go, a burst of 1,500 took
        // longer than a slot and made the next slots' frames late, so reading stops when the
        // next slot is due and goes on after its frames.
        input?.poll(until: start + CallPacer.slotInterval * (ticks + 1))
    }
}

/// One pacer per event loop of a group, for a server whose connections spread over the loops.
final class LoopPacers: Sendable {
    private let pacers: [ObjectIdentifier: NIOLoopBound<CallPacer>]

    init(group: any EventLoopGroup) throws {
        var pacers: [ObjectIdentifier: NIOLoopBound<CallPacer>] = [:]
        for loop in group.makeIterator() {
            pacers[ObjectIdentifier(loop)] = try loop.submit { NIOLoopBound(try CallPacer(eventLoop: loop), eventLoop: loop) }.wait()
        }
        self.pacers = pacers
    }

    /// The pacer of `loop`; on that loop only.
    func pacer(on loop: any EventLoop) throws -> CallPacer {
        guard let pacer = pacers[ObjectIdentifier(loop)] else { throw ChannelError.inappropriateOperationForState }
        return pacer.value
    }

    /// Stops every pacer and its engine.
    func stop() async {
        for pacer in pacers.values {
            try? await pacer.eventLoop.submit { pacer.value.stop() }.get()
        }
    }
}
