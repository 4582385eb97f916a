// SPDX-License-Identifier: MIT
// One pacer per event loop: every 20 ms, on absolute deadlines (no drift), it services the
// loop's agent engine once and sends each of the loop's calls its next frame. One timer for
// all calls on the loop, not one per call.
import AudioBridgeTransports
import NIOCore

final class CallPacer {
    static let frame = TimeAmount.milliseconds(20)
    let eventLoop: any EventLoop
    /// The agents of all calls on this loop, serviced here (no extra thread).
    let engine: Engine
    /// In arrival order, which stays stable as calls come and go: each call keeps its place in
    /// the tick, so its frames keep their spacing (a dictionary would reshuffle on every rehash).
    private var calls: [AudioSocketCall] = []
    private var start = NIODeadline.now()
    private var ticks: Int64 = 0
    private var scheduled: Scheduled<Void>?

    init(eventLoop: any EventLoop) throws {
        self.eventLoop = eventLoop
        engine = try Engine(ownThread: false)
    }

    func add(_ call: AudioSocketCall) {
        calls.append(call)
        if scheduled == nil {
            start = .now()
            ticks = 0
            schedule()
        }
    }

    func remove(_ call: AudioSocketCall) {
        calls.removeAll { $0 === call }
        if calls.isEmpty {
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
        var deadline = start + CallPacer.frame * ticks
        let now = NIODeadline.now()
        if now - deadline > .milliseconds(200) {
            // The loop was stalled for a long time: restart the clock rather than send a burst.
            start = now
            ticks = 1
            deadline = now + CallPacer.frame
        }
        scheduled = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            tick()
            if scheduled != nil { schedule() }
        }
    }

    private func tick() {
        engine.serviceOnce()
        for call in calls {
            let started = NIODeadline.now()
            call.sendFrame()
            call.frameProcessingTimer.recordNanoseconds(Int64((NIODeadline.now() - started).nanoseconds))
        }
    }
}
