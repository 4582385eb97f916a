// SPDX-License-Identifier: MIT
// One call, whichever transport brought it: the session, its agent, its place in the loop's
// pacer, what its events turn into, its counters, logs and recording. The transport's adapter
// (a PhoneSide) turns its peer's bytes into `feedCaller` calls and is asked every 20 ms for the
// frame to send; everything else a call does is here, once. All on the call's event loop.
//
// Per frame (feedCaller, tick) nothing allocates or locks: counters are relaxed atomics, the
// recorder (when on) appends to storage reserved for a minute of call, and one frame in 16 is
// timed into the histogram.
import AudioBridgeCore
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore

final class CallPipeline {
    let session: Session
    /// `session.media`, called without reference counting: the session (held above) owns it for
    /// the call's life, and a call through a field of another object (or an unowned one) is
    /// compiled as a retain and a release around it, every frame.
    private let media: Unmanaged<MediaEnd>
    let side: PhoneSide
    let callID: String
    let logger: Logger
    private let live = LiveObject(.call)
    private let metrics: TransportMetrics
    private let admission: CallAdmission
    private let pacer: CallPacer
    private let recorder: CallRecorder?
    private let eventLoop: any EventLoop
    /// Every session event of the call, for tests and embedders; a marked item's playoutFinished
    /// comes when the peer confirms it.
    private let observer: ((SessionEvent) -> Void)?
    /// Used every tick by this pipeline's own methods, on its loop, none of which calls out
    /// while it holds the gate: no dynamic exclusivity check (a runtime call per access).
    @exclusivity(unchecked) private var gate = PlayoutGate()
    /// The tick's session events, in storage made with the call (a Swift array here cost a
    /// uniqueness check per tick on a cold cache line).
    private let events: UnsafeMutableBufferPointer<SessionEvent>
    private var marks = PendingMarks()
    private var agentLost = false
    private var uplinkOverflowLogged = false
    private var ticks: UInt64 = 0
    /// Consecutive ticks at which the peer was not reading.
    private var stalledTicks = 0
    /// Why we ended the call ourselves, when it was not the peer (logged at the end).
    private var endCause: String?
    private var ended = false
    /// What a caller frame touches (the session's media end and speech detector, the adapter;
    /// AudioBridgeCore's HotMemory): a transport that reads its own sockets asks the caches for
    /// it before the read that brings the frame.
    let callerFrameMemory: HotMemory
    /// What the 20 ms tick touches (the session's playout and events, the adapter): the pacer
    /// asks for the next call's while this call's frame goes out.
    let tickMemory: HotMemory

    /// Starts a call that `admission` has already admitted: builds the session, the adapter
    /// (`side`, given the session: RTP's endpoint works on it) and the agent, and takes a pacing
    /// slot. Throws (and releases the admission) if any of them cannot be made.
    init(side makeSide: (Session) throws -> PhoneSide, callID: String, session configuration: SessionConfiguration, settings: CallSettings,
         metadata: [(String, String)], services: BridgeServices, transport: PhoneTransport, pacer: CallPacer,
         eventLoop: any EventLoop, logger base: Logger, observer: ((SessionEvent) -> Void)?) throws {
        self.callID = callID
        metrics = services.metrics[transport]
        admission = services.admission
        self.pacer = pacer
        self.eventLoop = eventLoop
        self.observer = observer
        var logger = base
        logger[metadataKey: "call"] = "\(callID)"
        logger[metadataKey: "transport"] = "\(transport.rawValue)"
        logger[metadataKey: "agent"] = "\(settings.agent.hasPrefix("ws") ? "pcm-websocket" : settings.agent)"
        self.logger = logger
        let agent: AgentTransport
        do {
            session = try Session(configuration: configuration)
            media = Unmanaged.passUnretained(session.media)
            side = try makeSide(session)
            recorder = settings.recordDirectory.map { CallRecorder(directory: $0, callID: callID, codec: configuration.phoneCodec) }
            agent = try CallAgent.make(settings, metadata: metadata, eventLoop: eventLoop, logger: logger)
        } catch {
            admission.release()
            throw error
        }
        events = .allocate(capacity: 32)  // a tick rarely has more; if it does, the rest wait a tick
        var memory = session.callerFrameMemory
        memory.add(side.hotMemory)
        callerFrameMemory = memory
        memory = session.playoutFrameMemory
        memory.add(side.hotMemory)
        tickMemory = memory
        (agent as? CallControlled)?.callControl = self
        do {
            try pacer.engine.attach(agent, to: session)
        } catch {
            admission.release()
            throw error
        }
        pacer.add(self)
        metrics.callStarted()
        logger.info("call started", metadata: ["metadata": "\(metadata.map { "\($0.0)=\($0.1)" }.joined(separator: " "))"])
    }

    deinit { events.deallocate() }

    // MARK: Caller side (the adapter, as its peer's bytes arrive)

    /// One whole caller frame (phone codec, 20 ms) into the session, recorded and counted.
    func feedCaller(_ frame: UnsafeRawBufferPointer) {
        switch media._withUnsafeGuaranteedRef({ $0.writeCaller(frame) }) {
        case .success:
            recorder?.recordCaller(frame)
        case .failure(let error):
            metrics.add(.protocolErrors)
            logger.error("caller frame rejected: \(error)")
        }
        metrics.add(.framesIn)
    }

    /// A caller frame the adapter fed the session itself (RTP's endpoint): recorded and counted.
    func callerFed(_ frame: UnsafeBufferPointer<Int16>) {
        recorder?.recordCaller(frame)
        metrics.add(.framesIn)
    }

    func pressed(digit: UInt8) { _ = media._withUnsafeGuaranteedRef { $0.callerPressed(digit: digit) } }

    /// The peer confirmed a mark: the item's playoutFinished is reported now. False for a
    /// name that was not pending (already confirmed, or dropped by a flush).
    @discardableResult
    func markConfirmed(_ name: String, heard: Bool = true) -> Bool {
        guard let finished = marks.confirm(name) else { return false }
        if heard {
            metrics.add(.marksConfirmed)
            observer?(finished)
        }
        return true
    }

    /// A malformed message or violation from the peer that the call survives.
    func protocolError(_ description: @autoclosure () -> String) {
        metrics.add(.protocolErrors)
        logger.info("ignoring a message: \(description())")
    }

    /// The session's next frame for the caller (phone codec) read into `buffer`; nil if the
    /// session gave none. What most adapters' `readFrame` is.
    func readSessionFrame(into buffer: UnsafeMutableRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard case .success(let length) = media._withUnsafeGuaranteedRef({ $0.readCaller(into: buffer) }) else { return nil }
        return length > 0 ? UnsafeRawBufferPointer(rebasing: buffer[..<length]) : nil
    }

    /// A well-formed message of a kind the call does not act on.
    func ignoredMessage() { metrics.add(.ignoredMessages) }

    // MARK: The pacer's 20 ms tick

    func sendFrame() {
        guard !ended, side.isOpen else { return }
        ticks &+= 1
        let timed = ticks % TransportMetrics.frameTimingInterval == 0
        let started = timed ? NIODeadline.now() : .uptimeNanoseconds(0)
        if side.isHeld {
            metrics.add(.heldTicks)
            return
        }
        var frame: UnsafeRawBufferPointer?
        if side.isWritable {
            stalledTicks = 0
            frame = side.readFrame(for: self)
            if let frame { recorder?.recordHeard(frame) }
        } else {
            // The peer is not reading: the agent's audio stays queued rather than piling up frames.
            metrics.add(.sendStalls)
            stalledTicks += 1
            if stalledTicks == Self.stalledTicksBeforeDrop { dropStalledPeer() }
        }
        let (eventCount, playing) = gate.tick(session, events: events)
        if let frame, side.sendsSilence || playing {
            side.send(frame: frame)
            metrics.add(.framesOut)
        }
        for event in events[..<eventCount] {
            switch event.kind {
            case .bargeIn: committed(event)
            case .playoutFinished: itemFinished(event)
            default: handle(event)
            }
        }
        if timed { metrics.frameProcessing.recordNanoseconds(Int64((NIODeadline.now() - started).nanoseconds)) }
    }

    /// How long a peer may leave its socket full before the call is dropped: 5 s. A caller's
    /// network stalls for a moment; a peer that has not read for seconds has hung (a frozen
    /// process, a host gone without a close), and keeping its call would keep its agent, its
    /// session and its place under --max-calls for nothing. Memory stays bounded meanwhile:
    /// the adapter's queue is full and the agent's audio waits in the session's ring.
    static let stalledTicksBeforeDrop = 250

    private func dropStalledPeer() {
        endCause = "the peer stopped reading (\(Self.stalledTicksBeforeDrop / 50) s with its socket full)"
        metrics.add(.droppedPeers)
        logger.warning("dropping the call: the peer stopped reading", metadata: ["stalled_ms": "\(stalledTicks * 20)"])
        // After the tick: the connection's end detaches the agent, which the tick is driving.
        eventLoop.execute { [side] in side.drop() }
    }

    private func committed(_ cut: SessionEvent) {
        metrics.add(.bargeIns)
        if side.flush() {
            metrics.add(.flushes)
            if side.flushDropsMarks { marks.removeAll() }
        }
        logger.info("barge-in", metadata: ["item": "\(cut.item)", "heard_ms": "\(cut.heardMilliseconds)", "cause": "\(cut.code)"])
        observer?(cut)
    }

    private func itemFinished(_ finished: SessionEvent) {
        // Built without interpolation, whose buffer would allocate; "item-N" fits a small string.
        let name = "item-" + String(finished.item)
        if side.mark(name: name) {
            marks.add(finished, name: name)
            metrics.add(.marksSent)
        } else {
            observer?(finished)
        }
    }

    private func handle(_ event: SessionEvent) {
        switch event.kind {
        case .bargeInPending:
            metrics.add(.bargeInPauses)
            side.pausePlayout()
            logger.debug("barge-in pending", metadata: ["item": "\(event.item)", "heard_ms": "\(event.heardMilliseconds)"])
        case .bargeInResumed:
            metrics.add(.bargeInResumes)
            logger.debug("barge-in resumed", metadata: ["item": "\(event.item)", "paused_ms": "\(event.count)"])
        case .dtmf:
            metrics.add(.dtmf)
            logger.info("dtmf", metadata: ["digit": "\(Character(Unicode.Scalar(event.digit)))"])
        case .transportDisconnected:
            metrics.add(.agentDisconnects)
            agentLost = true
            logger.warning("agent connection lost")
        case .transportConnected:
            uplinkOverflowLogged = false
            if agentLost {
                metrics.add(.agentReconnects)
                agentLost = false
                logger.info("agent connected again")
            }
        case .hangupRequested:
            // An agent asked through the session (Session.agent.requestHangup): its goodbye is heard.
            endCall(reason: "the agent ended the call")
        case .uplinkOverflow:
            // A network agent reports one per dropped chunk while it is unreachable: logged once
            // a disconnection, not every 20 ms (the agents count what they drop).
            if !uplinkOverflowLogged {
                uplinkOverflowLogged = true
                logger.warning("caller audio dropped: the agent has not taken it (more is not logged until it is back)",
                               metadata: ["count": "\(event.count)"])
            }
        case .transportError, .eventsDropped:
            logger.warning("session event \(event.kind)", metadata: ["code": "\(event.code)", "count": "\(event.count)"])
        default:
            logger.debug("session event \(event.kind)", metadata: ["item": "\(event.item)"])
        }
        observer?(event)
    }

    // MARK: The end

    /// The connection is gone: leaves the pacer, detaches the agent, writes the recording,
    /// counts and logs the call's end, and gives its place back. Once.
    func end(reason: String) {
        guard !ended else { return }
        ended = true
        let reason = endCause ?? reason
        pacer.remove(self)
        pacer.engine.detach(session)
        if let recorder {
            recorder.finish(on: eventLoop, logger: logger)
            metrics.add(.recordings)
        }
        let statistics = session.statistics
        metrics.add(.underrunFrames, Int(statistics.underrunFrames))
        metrics.callEnded()
        admission.release()
        logger.info("call ended", metadata: ["reason": "\(reason)", "frames_in": "\(statistics.framesIn)", "frames_out": "\(statistics.framesOut)",
                                             "underrun_frames": "\(statistics.underrunFrames)"])
    }
}

extension CallPipeline: CallControl {
    var abilities: CallControlAbilities { side.abilities }

    /// Carried out after the current event-loop task: the agent asks from inside the engine's
    /// tick, and a hang-up that closed the connection at once would end the call (and detach
    /// the agent) while the tick holds the engine's lock.
    func endCall(reason: String) {
        guard !ended else { return }
        logger.info("call ending", metadata: ["reason": "\(reason)"])
        eventLoop.execute { [side] in side.endCall() }
    }

    func transfer(to target: String, completion: @escaping (CallControlOutcome) -> Void) {
        guard !ended else { return completion(.refused("the call is already over")) }
        logger.info("call transfer requested", metadata: ["target": "\(target)"])
        side.transfer(to: target) { [logger] outcome in
            logger.info("call transfer", metadata: ["target": "\(target)", "outcome": "\(outcome.json)"])
            completion(outcome)
        }
    }

    func sendDigits(_ digits: String) -> CallControlOutcome {
        guard !ended else { return .refused("the call is already over") }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ TelephoneEventDigits.isDigit($0) }) else {
            return .refused("digits are 0-9, *, # and A-D")
        }
        let outcome = side.sendDigits(digits)
        logger.info("digits to the far end", metadata: ["digits": "\(digits)", "outcome": "\(outcome.json)"])
        return outcome
    }
}

/// The characters RFC 4733 has events for (DTMF).
enum TelephoneEventDigits {
    static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "*") || byte == UInt8(ascii: "#")
            || (UInt8(ascii: "A")...UInt8(ascii: "D")).contains(byte)
    }
}
