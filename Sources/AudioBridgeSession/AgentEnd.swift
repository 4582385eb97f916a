// SPDX-License-Identifier: MIT
// The session's agent side: what a transport (or the host's own I/O code) calls to move audio
// to and from the agent. One I/O thread at a time. Realtime-safe too (no allocation or lock),
// so it may also run on an event loop next to the media pacer.
//
//   writeDownlink: agent audio in any chunk size, faster than real time → resample to 8 kHz on
//                  this side → playout ring, with item markers; back-pressure when full
//   readUplink:    caller audio at the agent's rate (or the caller's G.711 bytes)
import AudioBridgeCore

public final class AgentEnd {
    public let format: AgentAudioFormat
    private let phoneCodec: PhoneCodec
    private let agentRate: Int
    private let shared: SessionShared
    private let downsampler: Resampler?

    // The ring ends and event emitters below are touched every frame, and only by this end's own
    // methods, on its one thread, none of which calls out while it holds one: the dynamic
    // exclusivity check Swift adds to a class's mutated struct property could never fire, and it
    // was a measurable share of a loaded server's CPU. Hence @exclusivity(unchecked).
    @exclusivity(unchecked) private var playout: SPSCRing<Int16>.Producer
    @exclusivity(unchecked) private var markers: SPSCRing<PlayoutMarker>.Producer
    @exclusivity(unchecked) private var uplink: SPSCRing<Int16>.Consumer
    @exclusivity(unchecked) private var ioEvents: EventEmitter
    @exclusivity(unchecked) private var notifications: SPSCRing<SessionEvent>.Consumer

    /// Agent samples converted before they go into the playout ring (input and output side).
    private let chunkIn: UnsafeMutableBufferPointer<Int16>
    private let chunkOut: UnsafeMutableBufferPointer<Int16>
    /// Samples written to the playout ring since the session began (see MediaEnd.readPosition).
    private var writtenPosition = 0
    private var writingItem: UInt64 = 0
    private var seenGeneration: UInt64 = 0

    static let chunkOutSamples = 1024

    struct Rings: ~Copyable {
        var playout: SPSCRing<Int16>.Producer
        var markers: SPSCRing<PlayoutMarker>.Producer
        var uplink: SPSCRing<Int16>.Consumer
        var ioEvents: EventEmitter
        var notifications: SPSCRing<SessionEvent>.Consumer
    }

    init(configuration: SessionConfiguration, shared: SessionShared, rings: consuming Rings) throws(AudioBridgeError) {
        format = configuration.agentFormat
        phoneCodec = configuration.phoneCodec
        agentRate = configuration.agentSampleRate
        downsampler = agentRate == SessionConfiguration.phoneSampleRate ? nil
            : try Resampler(inputRate: agentRate, outputRate: SessionConfiguration.phoneSampleRate, quality: configuration.resamplerQuality)
        self.shared = shared
        chunkOut = .allocate(capacity: Self.chunkOutSamples)
        chunkIn = .allocate(capacity: Self.chunkOutSamples * agentRate / SessionConfiguration.phoneSampleRate)
        chunkOut.initialize(repeating: 0)
        chunkIn.initialize(repeating: 0)
        let rings = rings
        playout = rings.playout
        markers = rings.markers
        uplink = rings.uplink
        ioEvents = rings.ioEvents
        notifications = rings.notifications
    }

    deinit {
        chunkIn.deallocate()
        chunkOut.deallocate()
    }

    var bufferBytes: Int { (chunkIn.count + chunkOut.count) * 2 }

    /// What `readUplink` and `pollNotification` touch every frame, but the rings' slots.
    var hotMemory: HotMemory {
        var memory = HotMemory()
        memory.add(self)
        memory.add(uplink.hotMemory)
        memory.add(notifications.hotMemory)
        return memory
    }

    /// Notices a cut made by the media thread: the next write starts its item afresh, and the
    /// filter forgets the audio that was thrown away.
    private func observeCuts() {
        let generation = shared.flushGeneration.load(ordering: .acquiring)
        guard generation != seenGeneration else { return }
        seenGeneration = generation
        writingItem = 0
        downsampler?.reset()
    }

    /// Queues agent audio for `item` (any non-zero id the caller chooses; a new id starts a new
    /// item and ends the previous one). `audio` is in the agent format: PCM16 native-endian at the
    /// agent rate, or G.711 bytes in passthrough. Returns how many bytes were taken: fewer than
    /// given when the playout queue is full (back-pressure: offer the rest again later; only
    /// whole samples are taken). Audio for an item a barge-in interrupted is taken and discarded
    /// (counted in `downlinkDiscardedSamples`).
    public func writeDownlink(item: UInt64, _ audio: UnsafeRawBufferPointer) throws(AudioBridgeError) -> Int {
        guard item != 0 else { throw .invalidArgument }
        observeCuts()
        let bytesPerSample = format.bytesPerSample
        let samples = audio.count / bytesPerSample
        guard samples > 0, let base = audio.baseAddress else { return 0 }

        if seenGeneration > 0, item == shared.interruptedItem.load(ordering: .relaxed) {
            count(shared.downlinkDiscardedSamples, samples * SessionConfiguration.phoneSampleRate / agentRate)
            return samples * bytesPerSample
        }
        if item != writingItem {
            guard markers.availableToWrite() >= 2 else { return 0 }
            if writingItem != 0 { pushMarker(.end, writingItem) }
            pushMarker(.start, item)
            writingItem = item
        }

        var taken = 0
        while taken < samples {
            let room = playout.availableToWrite() - 2
            let outRoom = min(room, Self.chunkOutSamples - 2)
            let chunk = min(samples - taken, outRoom * agentRate / SessionConfiguration.phoneSampleRate)
            guard chunk > 0 else { break }
            let source = base + taken * bytesPerSample
            let converted: UnsafeBufferPointer<Int16>
            // What the resampler really took: input it leaves is offered to it again, never lost.
            var consumed = chunk
            switch format {
            case .g711Passthrough:
                let codes = UnsafeBufferPointer(start: source.assumingMemoryBound(to: UInt8.self), count: chunk)
                if phoneCodec == .alaw { ALaw.decode(codes, into: chunkOut) } else { ULaw.decode(codes, into: chunkOut) }
                converted = UnsafeBufferPointer(rebasing: chunkOut[..<chunk])
            case .pcm16:
                // Host bytes may be unaligned: copy them into an aligned buffer first.
                let input = downsampler == nil ? chunkOut : chunkIn
                UnsafeMutableRawPointer(input.baseAddress!).copyMemory(from: source, byteCount: chunk * 2)
                if let downsampler {
                    // The output is limited to the playout's room, so nothing converted can be dropped.
                    let (used, produced) = downsampler.process(UnsafeBufferPointer(rebasing: chunkIn[..<chunk]),
                                                               into: UnsafeMutableBufferPointer(rebasing: chunkOut[..<min(chunkOut.count, room)]))
                    consumed = used
                    converted = UnsafeBufferPointer(rebasing: chunkOut[..<produced])
                } else {
                    converted = UnsafeBufferPointer(rebasing: chunkOut[..<chunk])
                }
            }
            let written = playout.write(converted)
            writtenPosition += written
            if written < converted.count { count(shared.downlinkDiscardedSamples, converted.count - written) }  // sized to fit: cannot happen
            taken += consumed
            guard consumed > 0 else { break }
        }
        return taken * bytesPerSample
    }

    /// Agent audio written and not yet played, in phone-rate samples: what the playout queue
    /// holds as this side sees it (the media side may have played or cut some since).
    public func queuedPlayoutSamples() -> Int { playout.capacity - playout.availableToWrite() }

    /// Marks the end of `item`: once its last sample has been handed to the caller, a
    /// `playoutFinished` event follows. Ending an item that is not being written does nothing.
    /// Throws `.wouldBlock` when the marker queue is full (retry later).
    public func endItem(_ item: UInt64) throws(AudioBridgeError) {
        guard item != 0 else { throw .invalidArgument }
        observeCuts()
        guard item == writingItem else { return }
        guard markers.availableToWrite() >= 1 else { throw .wouldBlock }
        pushMarker(.end, item)
        writingItem = 0
    }

    /// Asks for the call to end once everything written so far has been handed to the caller
    /// (the goodbye heard): a `hangupRequested` event follows then, on both sides. A barge-in
    /// that cuts that audio first cancels the request (the caller interrupted the goodbye; the
    /// `bargeIn` says so). Throws `.wouldBlock` when the marker queue is full (retry later).
    public func requestHangup() throws(AudioBridgeError) {
        observeCuts()
        guard markers.availableToWrite() >= 1 else { throw .wouldBlock }
        pushMarker(.hangup, 0)
    }

    /// Asks for the call to be transferred once everything written so far has been heard: a
    /// `transferRequested` event with `request` as its item follows (the target is the agent
    /// side's to pass to whoever carries the transfer out). Cancelled by a barge-in as a hang-up
    /// request is. Throws `.wouldBlock` when the marker queue is full.
    public func requestTransfer(_ request: UInt64) throws(AudioBridgeError) {
        observeCuts()
        guard markers.availableToWrite() >= 1 else { throw .wouldBlock }
        pushMarker(.transfer, request)
    }

    private func pushMarker(_ kind: PlayoutMarker.Kind, _ item: UInt64) {
        // Room was checked by the caller.
        _ = markers.push(PlayoutMarker(kind: kind, item: item, position: writtenPosition, generation: seenGeneration))
    }

    /// Copies caller audio for the agent into `out` (PCM16 native-endian at the agent rate, or
    /// G.711 bytes in passthrough; whole samples only) and returns the byte count.
    public func readUplink(into out: UnsafeMutableRawBufferPointer) -> Int {
        guard let outBase = out.baseAddress else { return 0 }
        let bytesPerSample = format.bytesPerSample
        let (first, second) = uplink.readableRegions(maximum: out.count / bytesPerSample)
        let firstBytes = Self.copy(first, to: outBase, bytesPerSample: bytesPerSample)
        let secondBytes = Self.copy(second, to: outBase + firstBytes, bytesPerSample: bytesPerSample)
        uplink.release(first.count + second.count)
        return firstBytes + secondBytes
    }

    /// Copies ring samples to the host's (possibly unaligned) buffer; returns the bytes written.
    private static func copy(_ samples: UnsafeBufferPointer<Int16>, to destination: UnsafeMutableRawPointer, bytesPerSample: Int) -> Int {
        guard let source = samples.baseAddress else { return 0 }
        if bytesPerSample == 2 {
            destination.copyMemory(from: source, byteCount: samples.count * 2)
        } else {
            for i in 0..<samples.count {
                destination.storeBytes(of: UInt8(truncatingIfNeeded: samples[i]), toByteOffset: i, as: UInt8.self)
            }
        }
        return samples.count * bytesPerSample
    }

    /// Bytes of caller audio waiting to be read.
    public func uplinkBytesAvailable() -> Int { uplink.availableToRead() * format.bytesPerSample }

    /// The next event for the agent side (barge-in, speech, DTMF, playout): what a transport
    /// turns into its protocol's words. One consumer thread at a time.
    public func pollNotification() -> SessionEvent? { notifications.pop() }

    /// Reports a transport-level event (connected, disconnected, error) to the host.
    public func report(_ event: SessionEvent) { ioEvents.emit(event) }
}
