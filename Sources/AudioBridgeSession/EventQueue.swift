// SPDX-License-Identifier: MIT
// Events from two producer threads (the media thread; the agent/I-O side) to one consumer,
// without locks: one SPSC ring per producer, merged in sequence order when polled. A full ring
// never blocks the producer: the event is counted as dropped and an `eventsDropped` event
// reports the count as soon as there is room again.
import AudioBridgeCore
import Synchronization

/// One producer's end of an event ring.
struct EventEmitter: ~Copyable {
    private var producer: SPSCRing<SessionEvent>.Producer
    private let shared: SessionShared
    private let reportsDrops: Bool
    private var unreportedDrops: UInt64 = 0

    /// `reportsDrops`: whether lost events are counted in `eventsDropped` and reported by an
    /// event (host rings) or only counted in `agentEventsDropped` (the agent notification ring).
    init(_ producer: consuming SPSCRing<SessionEvent>.Producer, shared: SessionShared, reportsDrops: Bool) {
        self.producer = producer
        self.shared = shared
        self.reportsDrops = reportsDrops
    }

    mutating func emit(_ event: SessionEvent) {
        if unreportedDrops > 0, reportsDrops {
            if push(SessionEvent(kind: .eventsDropped, count: unreportedDrops)) { unreportedDrops = 0 }
        }
        if !push(event) {
            unreportedDrops &+= 1
            if reportsDrops { count(shared.eventsDropped) } else { count(shared.agentEventsDropped) }
        }
    }

    private mutating func push(_ event: SessionEvent) -> Bool {
        var stamped = event
        stamped.timestampMilliseconds = shared.mediaTimeMilliseconds.load(ordering: .relaxed)
        stamped.sequence = shared.eventSequence.wrappingAdd(1, ordering: .relaxed).newValue
        return producer.push(stamped)
    }
}

/// The consumer of two event rings, returning events in sequence order.
struct EventReader: ~Copyable {
    private var first: SPSCRing<SessionEvent>.Consumer
    private var second: SPSCRing<SessionEvent>.Consumer
    private var pendingFirst: SessionEvent?
    private var pendingSecond: SessionEvent?

    var hotMemory: HotMemory {
        var memory = first.hotMemory
        memory.add(second.hotMemory)
        return memory
    }

    init(_ first: consuming SPSCRing<SessionEvent>.Consumer, _ second: consuming SPSCRing<SessionEvent>.Consumer) {
        self.first = first
        self.second = second
    }

    mutating func next() -> SessionEvent? {
        if pendingFirst == nil { pendingFirst = first.pop() }
        if pendingSecond == nil { pendingSecond = second.pop() }
        switch (pendingFirst, pendingSecond) {
        case (let a?, let b?):
            if a.sequence <= b.sequence { pendingFirst = nil; return a }
            pendingSecond = nil
            return b
        case (let a?, nil):
            pendingFirst = nil
            return a
        case (nil, let b?):
            pendingSecond = nil
            return b
        case (nil, nil):
            return nil
        }
    }
}
