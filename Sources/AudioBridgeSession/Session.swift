// SPDX-License-Identifier: MIT
// One call. A session has three ends, each owned by one thread at a time:
//
//   media  (MediaEnd)  the host's media thread: writeCaller / readCaller every frame
//   agent  (AgentEnd)  one I/O thread: writeDownlink / endItem / readUplink / pollNotification
//   events (pollEvent) one consumer thread: the host's event loop
//
// plus `interrupt()` and `statistics`, callable from any thread. Everything is allocated and
// warmed up here, so the per-frame calls allocate nothing afterwards.
import AudioBridgeCore

public final class Session: @unchecked Sendable {
    // SAFETY (@unchecked Sendable): each end is documented for one thread at a time; what the
    // threads share goes through SPSC rings and the atomics in SessionShared.
    public let configuration: SessionConfiguration
    public let media: MediaEnd
    public let agent: AgentEnd
    /// Only `pollEvent` touches it, and it calls nothing out: no dynamic exclusivity check
    /// (see AgentEnd's rings).
    @exclusivity(unchecked) private var events: EventReader
    private let shared: SessionShared
    /// Bytes this session allocated for rings and buffers (SpeexDSP's filter state excluded;
    /// see `memoryBytes` in the tests for a measured total).
    public let bufferBytes: Int
    private let live = LiveObject(.session)

    public init(configuration: SessionConfiguration) throws(AudioBridgeError) {
        try configuration.validate()
        let shared = SessionShared()
        let rate = SessionConfiguration.phoneSampleRate
        let playoutCapacity = configuration.playoutCapacityMilliseconds * rate / 1000
        let uplinkCapacity = configuration.uplinkCapacityMilliseconds * configuration.agentSampleRate / 1000
        let markerCapacity = 256

        let playout = try SPSCRing<Int16>.make(capacity: playoutCapacity)
        let uplink = try SPSCRing<Int16>.make(capacity: uplinkCapacity)
        let markers = try SPSCRing<PlayoutMarker>.make(capacity: markerCapacity)
        let mediaEvents = try SPSCRing<SessionEvent>.make(capacity: configuration.eventCapacity)
        let ioEvents = try SPSCRing<SessionEvent>.make(capacity: configuration.eventCapacity)
        let notifications = try SPSCRing<SessionEvent>.make(capacity: configuration.eventCapacity)

        media = try MediaEnd(configuration: configuration, shared: shared, rings: MediaEnd.Rings(
            uplink: uplink.producer, playout: playout.consumer, markers: markers.consumer,
            hostEvents: EventEmitter(mediaEvents.producer, shared: shared, reportsDrops: true),
            agentEvents: EventEmitter(notifications.producer, shared: shared, reportsDrops: false)))
        agent = try AgentEnd(configuration: configuration, shared: shared, rings: AgentEnd.Rings(
            playout: playout.producer, markers: markers.producer, uplink: uplink.consumer,
            ioEvents: EventEmitter(ioEvents.producer, shared: shared, reportsDrops: true),
            notifications: notifications.consumer))
        events = EventReader(mediaEvents.consumer, ioEvents.consumer)
        self.shared = shared
        self.configuration = configuration
        bufferBytes = SPSCRing<Int16>.slotBytes(capacity: playoutCapacity) + SPSCRing<Int16>.slotBytes(capacity: uplinkCapacity)
            + SPSCRing<PlayoutMarker>.slotBytes(capacity: markerCapacity)
            + 3 * SPSCRing<SessionEvent>.slotBytes(capacity: configuration.eventCapacity)
            + media.bufferBytes + agent.bufferBytes
        warmUp()
    }

    /// Runs one silent frame through every per-frame path, so first-use costs (runtime
    /// metadata, lazy tables, filter state) are paid here and not on the media thread, then
    /// puts back everything it changed.
    private func warmUp() {
        G711.warmUp()
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: max(media.frameBytes, 4096), alignment: 16)
        defer { frame.deallocate() }
        frame.initializeMemory(as: UInt8.self, repeating: configuration.phoneCodec == .slin16 ? 0 : (configuration.phoneCodec == .ulaw ? 0xFF : 0xD5))
        _ = media.writeCaller(UnsafeRawBufferPointer(rebasing: frame[..<media.frameBytes]))
        _ = media.readCaller(into: frame)
        while agent.readUplink(into: frame) > 0 {}
        media.resetAfterWarmUp()
        shared.mediaTimeMilliseconds.store(0, ordering: .relaxed)
        shared.framesIn.store(0, ordering: .relaxed)
        shared.framesOut.store(0, ordering: .relaxed)
    }

    /// The next event for the host, in the order they happened; nil when none is waiting.
    /// One consumer thread at a time. Realtime-safe.
    public func pollEvent() -> SessionEvent? { events.next() }

    // What each of the session's per-frame calls touches (AudioBridgeCore's HotMemory), for a
    // host with many calls to fetch ahead of a call's turn.

    /// `media.writeCaller`, the speech detector included.
    package var callerFrameMemory: HotMemory {
        var memory = media.callerFrameMemory
        memory.add(shared)
        return memory
    }

    /// `media.readCaller` and `pollEvent`.
    package var playoutFrameMemory: HotMemory {
        var memory = media.playoutFrameMemory
        memory.add(events.hotMemory)
        memory.add(self)
        memory.add(shared)
        return memory
    }

    /// `agent.readUplink` and `agent.pollNotification`.
    package var agentServiceMemory: HotMemory { agent.hotMemory }

    /// Cuts agent playout at the next caller frame (fade, flush, `bargeIn` event with cause
    /// `.interruptRequest` if an item was playing), e.g. on a DTMF key. Any thread. Realtime-safe.
    /// Returns the request's number, for `interruptHandled(_:)`.
    @discardableResult
    public func interrupt() -> UInt64 { shared.interruptRequests.wrappingAdd(1, ordering: .releasing).newValue }

    /// The agent side heard the caller too (e.g. the model's own speech detection or a
    /// transcript): a barge-in pause in progress is committed at the next caller frame, without
    /// waiting for the confirmation time. Does nothing when playout is not paused (use
    /// `interrupt()` to cut regardless). Any thread. Realtime-safe.
    public func confirmBargeIn() { shared.bargeInConfirmations.wrappingAdd(1, ordering: .relaxed) }

    /// Whether the media side has carried out interrupt request `request` (or a later one):
    /// agent audio written from now on is not flushed by it. Any thread. Realtime-safe.
    public func interruptHandled(_ request: UInt64) -> Bool { shared.interruptsHandled.load(ordering: .acquiring) >= request }

    /// Counters so far. Any thread.
    public var statistics: SessionStatistics { shared.statistics() }
}
