// SPDX-License-Identifier: MIT
// The session's media-thread side: one caller frame in, one caller frame out, every frame
// duration (DESIGN.md §1–§5). Both calls belong to the host's media thread (never concurrently)
// and are realtime-safe: they only copy, convert and count, in buffers sized at creation.
//
//   writeCaller: decode → detector (speech; the arbiter's pause / commit / resume) → resample
//                up → uplink ring
//   readCaller:  playout ring (8 kHz) → item tracking (events, heard position) → fade on a
//                pause, a resume or a cut → encode
//
// A pause stops taking audio from the playout ring: the frame that pauses fades out over its
// first `fadeSamples` (those samples are handed over, so they count as heard), then silence;
// the heard position stays where it stopped. A resume takes the ring on from exactly that
// sample with a fade-in; a commit cuts as before (no fade needed: playout is already silent).
import AudioBridgeCore

public final class MediaEnd {
    public let frameSamples: Int
    public let frameBytes: Int
    private let codec: PhoneCodec
    private let passthrough: Bool
    private let fadeSamples: Int
    private let bargeInEnabled: Bool
    private let frameMilliseconds: UInt64
    private let shared: SessionShared
    private let upsampler: Resampler?

    // Unchecked for the same reason as AgentEnd's ring ends: only this end's own methods touch
    // them, on its one thread, and none calls out while it holds one.
    @exclusivity(unchecked) private var uplink: SPSCRing<Int16>.Producer
    @exclusivity(unchecked) private var playout: SPSCRing<Int16>.Consumer
    @exclusivity(unchecked) private var markers: SPSCRing<PlayoutMarker>.Consumer
    @exclusivity(unchecked) private var hostEvents: EventEmitter
    @exclusivity(unchecked) private var agentEvents: EventEmitter
    private let detector: SessionSpeechDetector

    /// The caller frame as 8 kHz PCM.
    private let callerPCM: UnsafeMutableBufferPointer<Int16>
    /// The caller frame at the agent's rate (or as raw G.711 codes, in passthrough).
    private let uplinkFrame: UnsafeMutableBufferPointer<Int16>
    /// The frame handed to the caller, as 8 kHz PCM.
    private let playoutFrame: UnsafeMutableBufferPointer<Int16>

    /// Samples taken from the playout ring since the session began (the agent side counts the
    /// same positions when it writes, so markers line up).
    private var readPosition = 0
    /// The item now playing (0: none) and the position of its first sample.
    private var currentItem: UInt64 = 0
    private var currentItemStart = 0
    private var pendingMarker: PlayoutMarker?
    /// After a cut: discarding queued audio until the agent side starts an item afresh.
    private var flushing = false
    private var generation: UInt64 = 0
    private var seenInterruptRequests: UInt64 = 0
    private var pendingBargeIn: SessionEvent.BargeInCause?
    /// Playout is paused (a possible barge-in) and the frames it has lasted.
    private var paused = false
    private var pausedFrames: UInt64 = 0
    private var seenConfirmations: UInt64 = 0
    private var uplinkOverflowing = false
    private var uplinkDroppedTotal: UInt64 = 0
    private var mediaTime: UInt64 = 0

    struct Rings: ~Copyable {
        var uplink: SPSCRing<Int16>.Producer
        var playout: SPSCRing<Int16>.Consumer
        var markers: SPSCRing<PlayoutMarker>.Consumer
        var hostEvents: EventEmitter
        var agentEvents: EventEmitter
    }

    init(configuration: SessionConfiguration, shared: SessionShared, rings: consuming Rings) throws(AudioBridgeError) {
        let agentRate = configuration.agentSampleRate
        let upsampler = agentRate == SessionConfiguration.phoneSampleRate ? nil
            : try Resampler(inputRate: SessionConfiguration.phoneSampleRate, outputRate: agentRate, quality: configuration.resamplerQuality)
        self.upsampler = upsampler
        frameSamples = configuration.frameSamples
        frameBytes = configuration.frameBytes
        codec = configuration.phoneCodec
        passthrough = configuration.agentFormat == .g711Passthrough
        fadeSamples = configuration.bargeIn.fadeMilliseconds * SessionConfiguration.phoneSampleRate / 1000
        bargeInEnabled = configuration.bargeIn.enabled
        frameMilliseconds = UInt64(configuration.frameMilliseconds)
        self.shared = shared
        detector = SessionSpeechDetector(settings: configuration.bargeIn.detector, arbitration: configuration.bargeIn.arbitration)
        callerPCM = .allocate(capacity: frameSamples)
        uplinkFrame = .allocate(capacity: upsampler?.maximumOutputCount(forInputCount: frameSamples) ?? frameSamples)
        playoutFrame = .allocate(capacity: frameSamples)
        callerPCM.initialize(repeating: 0)
        uplinkFrame.initialize(repeating: 0)
        playoutFrame.initialize(repeating: 0)
        let rings = rings
        uplink = rings.uplink
        playout = rings.playout
        markers = rings.markers
        hostEvents = rings.hostEvents
        agentEvents = rings.agentEvents
    }

    deinit {
        callerPCM.deallocate()
        uplinkFrame.deallocate()
        playoutFrame.deallocate()
    }

    /// Bytes this side allocated for its frame buffers.
    var bufferBytes: Int { (callerPCM.count + uplinkFrame.count + playoutFrame.count) * 2 }

    /// What `writeCaller` touches every frame (the speech detector included), but the rings' slots.
    var callerFrameMemory: HotMemory {
        var memory = detector.hotMemory
        memory.add(self)
        memory.add(uplink.hotMemory)
        memory.add(UnsafeRawPointer(callerPCM.baseAddress), bytes: callerPCM.count * MemoryLayout<Int16>.stride)
        // The uplink frame only when the caller's audio is converted for the agent (at the
        // phone's rate the decoded frame itself goes to the ring).
        if passthrough || upsampler != nil {
            memory.add(UnsafeRawPointer(uplinkFrame.baseAddress), bytes: uplinkFrame.count * MemoryLayout<Int16>.stride)
        }
        if let upsampler { memory.add(upsampler) }
        return memory
    }

    /// What `readCaller` touches every frame, but the rings' slots.
    var playoutFrameMemory: HotMemory {
        var memory = HotMemory()
        memory.add(self)
        memory.add(playout.hotMemory)
        memory.add(markers.hotMemory)
        memory.add(UnsafeRawPointer(playoutFrame.baseAddress), bytes: playoutFrame.count * MemoryLayout<Int16>.stride)
        return memory
    }

    // MARK: Caller → agent

    /// Takes one caller frame (exactly `frameBytes` in the phone codec). Fails with
    /// `.wrongFrameSize` and changes nothing if the size is wrong. Realtime-safe. (The media
    /// thread's calls return results rather than throw: a host's bad input must not run the
    /// runtime's will-throw hook, which may allocate, on that thread.)
    public func writeCaller(_ frame: UnsafeRawBufferPointer) -> Result<Void, AudioBridgeError> {
        guard frame.count == frameBytes, let base = frame.baseAddress else { return .failure(.wrongFrameSize) }
        let codes = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: frameSamples)
        switch codec {
        case .ulaw: ULaw.decode(codes, into: callerPCM)
        case .alaw: ALaw.decode(codes, into: callerPCM)
        case .slin16: UnsafeMutableRawPointer(callerPCM.baseAddress!).copyMemory(from: base, byteCount: frameBytes)
        }
        mediaTime &+= frameMilliseconds
        shared.mediaTimeMilliseconds.store(mediaTime, ordering: .relaxed)
        count(shared.framesIn)

        sendUplink(codes)
        detectSpeech()
        return .success(())
    }

    private func sendUplink(_ codes: UnsafeBufferPointer<UInt8>) {
        let agentFrame: UnsafeBufferPointer<Int16>
        if passthrough {
            for i in 0..<frameSamples { uplinkFrame[i] = Int16(codes[i]) }
            agentFrame = UnsafeBufferPointer(rebasing: uplinkFrame[..<frameSamples])
        } else if let upsampler {
            let (_, produced) = upsampler.process(UnsafeBufferPointer(callerPCM), into: uplinkFrame)
            agentFrame = UnsafeBufferPointer(rebasing: uplinkFrame[..<produced])
        } else {
            agentFrame = UnsafeBufferPointer(callerPCM)
        }
        let written = uplink.write(agentFrame)
        let dropped = agentFrame.count - written
        if dropped > 0 {
            count(shared.uplinkDroppedSamples, dropped)
            uplinkDroppedTotal &+= UInt64(dropped)
            if !uplinkOverflowing { hostEvents.emit(SessionEvent(kind: .uplinkOverflow, count: uplinkDroppedTotal)) }
        }
        uplinkOverflowing = dropped > 0
    }

    private func detectSpeech() {
        let (turn, committed) = detector.process(UnsafeBufferPointer(callerPCM), agentPlaying: bargeInEnabled && currentItem != 0)
        switch turn {
        case .speechStarted: emitBoth(SessionEvent(kind: .speechStarted))
        case .speechStopped: emitBoth(SessionEvent(kind: .speechStopped))
        case .none: break
        }
        // Cut at the next readCaller (which also carries out the arbiter's pauses and resumes).
        if committed, pendingBargeIn == nil { pendingBargeIn = .callerSpeech }
    }

    /// Reports a DTMF digit the caller pressed (ASCII '0'–'9', '*', '#', 'A'–'D'). Fails with
    /// `.invalidArgument` for anything else. Realtime-safe; media thread.
    public func callerPressed(digit: UInt8) -> Result<Void, AudioBridgeError> {
        guard Self.isDTMF(digit) else { return .failure(.invalidArgument) }
        emitBoth(SessionEvent(kind: .dtmf, digit: digit))
        return .success(())
    }

    static func isDTMF(_ digit: UInt8) -> Bool {
        (digit >= 0x30 && digit <= 0x39) || digit == 0x2A || digit == 0x23 || (digit >= 0x41 && digit <= 0x44)
    }

    // MARK: Agent → caller

    /// Writes the next frame the caller hears (exactly `frameBytes`) into `out` and returns the
    /// byte count. Silence when no agent audio is queued. Fails with `.bufferTooSmall` if `out`
    /// cannot hold a frame. Realtime-safe.
    public func readCaller(into out: UnsafeMutableRawBufferPointer) -> Result<Int, AudioBridgeError> {
        guard out.count >= frameBytes, let outBase = out.baseAddress else { return .failure(.bufferTooSmall) }

        var cut = pendingBargeIn
        pendingBargeIn = nil
        let confirmations = shared.bargeInConfirmations.load(ordering: .relaxed)
        if confirmations != seenConfirmations {
            seenConfirmations = confirmations
            if detector.confirmPause() { cut = .callerSpeech }
        }
        let requests = shared.interruptRequests.load(ordering: .acquiring)
        if requests != seenInterruptRequests {
            seenInterruptRequests = requests
            cut = .interruptRequest
            detector.abandonPause()
        }
        // The arbiter's state says whether playout should be paused; follow it.
        let pausing = cut == nil && !paused && detector.isPaused && currentItem != 0
        let resuming = cut == nil && paused && !detector.isPaused

        if flushing { discardStaleAudio() }
        // A cut or a pause fades out what is playing (a paused one is silent already); audio
        // queued but not yet started is not begun at all.
        let wanted: Int
        if cut != nil || pausing {
            wanted = currentItem != 0 && !paused ? min(fadeSamples, frameSamples) : 0
        } else {
            wanted = paused && !resuming ? 0 : frameSamples
        }
        let resumedItem = currentItem, resumedHeard = heardSamples
        let got = flushing ? 0 : playout.read(into: UnsafeMutableBufferPointer(rebasing: playoutFrame[..<wanted]))
        let itemBefore = currentItem
        advance(by: got)
        if currentItem != itemBefore, currentItem != 0 { detector.rearm() }

        if pausing {
            fadeOut(count: got)
            if currentItem == 0 {
                detector.abandonPause()  // the item ended within the fade: nothing left to pause
            } else {
                paused = true
                pausedFrames = 0
                emitBoth(SessionEvent(kind: .bargeInPending, item: currentItem, heardSamples: heardSamples))
                count(shared.bargeInPauses)
            }
        } else if resuming {
            // The event reports where playout resumes from: where it paused.
            fadeIn(count: got)
            paused = false
            emitBoth(SessionEvent(kind: .bargeInResumed, item: resumedItem, heardSamples: resumedHeard,
                                  count: (pausedFrames &+ 1) &* frameMilliseconds))
            count(shared.bargeInResumes)
        } else if paused, cut == nil {
            pausedFrames &+= 1
        }

        if let cut {
            fadeOut(count: got)
            paused = false
            if currentItem != 0 {
                let event = SessionEvent(kind: .bargeIn, item: currentItem, heardSamples: heardSamples, code: cut.rawValue)
                emitBoth(event)
                shared.interruptedItem.store(currentItem, ordering: .relaxed)
                count(shared.bargeIns)
                currentItem = 0
            }
            generation &+= 1
            // Releasing: the agent side that sees the new generation also sees interruptedItem.
            shared.flushGeneration.store(generation, ordering: .releasing)
            flushing = true
            discardStaleAudio()
            // Releasing, after the new generation: whoever sees the request handled writes
            // audio that this cut can no longer flush.
            shared.interruptsHandled.store(seenInterruptRequests, ordering: .releasing)
        } else if got < wanted, currentItem != 0 {
            count(shared.underrunFrames)
        }
        for i in got..<frameSamples { playoutFrame[i] = 0 }

        let frame = UnsafeBufferPointer(playoutFrame)
        let codes = UnsafeMutableBufferPointer(start: outBase.assumingMemoryBound(to: UInt8.self), count: frameSamples)
        switch codec {
        case .ulaw: ULaw.encode(frame, into: codes)
        case .alaw: ALaw.encode(frame, into: codes)
        case .slin16: outBase.copyMemory(from: playoutFrame.baseAddress!, byteCount: frameBytes)
        }
        detector.notePlayed(frame)
        count(shared.framesOut)
        return .success(frameBytes)
    }

    /// Samples of the current item handed to the caller so far.
    private var heardSamples: UInt64 { currentItem == 0 ? 0 : UInt64(readPosition - currentItemStart) }

    /// Linear fade to zero over `fadeSamples`, applied to the first `count` samples of the frame.
    private func fadeOut(count: Int) {
        let length = Float(fadeSamples)
        for i in 0..<min(count, fadeSamples) {
            playoutFrame[i] = Int16(Float(playoutFrame[i]) * (length - Float(i + 1)) / length)
        }
    }

    /// Linear fade from zero over `fadeSamples`, applied to the first of the `count` samples.
    private func fadeIn(count: Int) {
        let length = Float(fadeSamples)
        for i in 0..<min(count, fadeSamples) {
            playoutFrame[i] = Int16(Float(playoutFrame[i]) * Float(i + 1) / length)
        }
    }

    /// Moves the read position past `count` samples just taken and applies the markers they
    /// crossed: an item starts once one of its samples has been handed over, and finishes once
    /// its last one has.
    private func advance(by count: Int) {
        readPosition += count
        while true {
            if pendingMarker == nil { pendingMarker = markers.pop() }
            guard let marker = pendingMarker else { return }
            if marker.generation < generation {
                pendingMarker = nil  // queued before the last cut: its audio is gone
                continue
            }
            switch marker.kind {
            case .start:
                guard marker.position < readPosition else { return }
                currentItem = marker.item
                currentItemStart = marker.position
                emitBoth(SessionEvent(kind: .playoutStarted, item: marker.item))
            case .end:
                guard marker.position <= readPosition else { return }
                if marker.item == currentItem {
                    emitBoth(SessionEvent(kind: .playoutFinished, item: marker.item, heardSamples: UInt64(marker.position - currentItemStart)))
                    currentItem = 0
                }
            case .hangup:
                guard marker.position <= readPosition else { return }
                emitBoth(SessionEvent(kind: .hangupRequested))
            case .transfer:
                guard marker.position <= readPosition else { return }
                emitBoth(SessionEvent(kind: .transferRequested, item: marker.item))
            }
            pendingMarker = nil
        }
    }

    /// While flushing, drops queued audio up to the first item the agent side started after
    /// the cut (or everything readable, if it has not started one yet).
    private func discardStaleAudio() {
        // Availability first: every marker written before that audio is then visible too.
        let limit = readPosition + playout.availableToRead()
        var target = limit
        while true {
            if pendingMarker == nil { pendingMarker = markers.pop() }
            guard let marker = pendingMarker else { break }
            if marker.generation < generation {
                pendingMarker = nil
                continue
            }
            target = min(limit, marker.position)
            break
        }
        let dropped = playout.release(target - readPosition)
        readPosition += dropped
        if dropped > 0 { count(shared.downlinkDiscardedSamples, dropped) }
        if let marker = pendingMarker, marker.generation == generation, readPosition == marker.position {
            flushing = false
        }
    }

    private func emitBoth(_ event: SessionEvent) {
        hostEvents.emit(event)
        agentEvents.emit(event)
    }

    /// Restores the state a warm-up frame changed (the detector and the media clock).
    func resetAfterWarmUp() {
        detector.reset()
        paused = false
        pausedFrames = 0
        mediaTime = 0
        upsampler?.reset()
    }
}
