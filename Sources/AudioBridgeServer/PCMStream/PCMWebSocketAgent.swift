// SPDX-License-Identifier: MIT
// `--agent ws://…`: a session's agent side spoken to the user's own model server in the raw-PCM
// protocol (AudioBridgeProtocols/PCMStream/PCMStreamControl.swift has the messages).
//
// Everything runs on the call's event loop, like RealtimeAgent:
//
//   caller audio   send(uplink:) → one BINARY message per 20 ms frame (held, bounded, while
//                  disconnected; sent on reconnect)
//   agent audio    BINARY → session.agent.writeDownlink as it arrives (a sample split across
//                  messages is joined); what the playout queue cannot take waits, and past a bound
//                  the socket is not read (back-pressure). A server `mark` ends the current item;
//                  when the caller has heard it to the end the bridge echoes the mark.
//   barge-in       the session's detector cuts playout → `clear` with the id and the heard ms of
//                  the cut item; audio still in flight is discarded (counted) until the server's
//                  `cleared` with that id
//   server clear   the server interrupts itself → the session flushes; once the cut is carried
//                  out the bridge answers `cleared` with the heard ms; later audio plays
//   call control   the server's hangup and transfer go into the session's playout queue once
//                  everything it sent before them is in the session (Session.agent.requestHangup/
//                  requestTransfer): the session says when that has been heard (the pipeline
//                  hangs up; a transfer is carried out here) and drops them if the caller cuts
//                  the audio first; send_dtmf at once; transfer and send_dtmf get a result
//   connection     lost → reconnect with backoff. Agent audio already received keeps playing
//                  (its item ends where its audio does; its marks, which no one could hear
//                  echoed, are forgotten); the fallback agent plays once nothing is queued
//
// The wire is little-endian PCM16 and so is the session's agent format on every platform this
// builds for (x86_64, arm64 Linux), so audio bytes go through unchanged.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore

public final class PCMWebSocketAgent: AgentTransport, CallControlled {
    private let live = LiveObject(.agent)
    let configuration: PCMWebSocketAgentConfiguration
    let eventLoop: any EventLoop
    let logger: Logger
    private var session: Session?
    private var sampleRate = 8000
    private var connection: WebSocketClient?
    private var connected = false
    private var closed = false
    private var backoff = ReconnectBackoff()
    private var reconnect: Scheduled<Void>?
    private let fallback: AgentFallback

    private var downlink = DownlinkQueue()
    /// The first byte of a sample whose second byte is in the next message.
    private var splitByte: UInt8?
    /// The session item incoming audio belongs to, and whether it has any yet.
    private var item = AgentFallback.firstNetworkItem
    private var itemHasAudio = false
    /// Server marks waiting for their item to finish playing, and the last item that had audio.
    private var marks: [UInt64: [String]] = [:]
    private var lastAudioItem: UInt64?
    /// Our `clear` the server has not answered yet: audio until then is stale.
    private var awaitedClear: Int?
    private var nextClearID = 1
    /// The server's `clear`: its id, our interrupt request, the heard ms of what it cut, and
    /// whether the cut is known to be carried out (the answer goes on the tick after that, when
    /// the session's barge-in event for it has been handled).
    private var serverClear: (id: Int?, request: UInt64, heardMilliseconds: Int, carriedOut: Bool)?
    /// Caller audio held while disconnected.
    private var uplinkBacklog = UplinkBacklog()
    weak var callControl: CallControl?
    /// Hangups and transfers waiting for what was sent before them to reach the session, in order.
    private var pendingControls: [(message: PCMStreamControl, connection: Int)] = []
    /// Transfers placed in the session's playout queue, by request id: the server's id, the
    /// target and its connection.
    private var transfers: [UInt64: (id: Int?, target: String, connection: Int)] = [:]
    private var nextTransferRequest: UInt64 = 1
    private var connectionNumber = 0

    /// What the agent did, for tests and logs (on the event loop).
    public private(set) var statistics = Statistics()
    public struct Statistics: Sendable, Equatable {
        public var connects = 0
        public var audioBytesReceived = 0
        /// Agent audio that arrived after a barge-in, before the server's `cleared`.
        public var staleBytesDiscarded = 0
        public var marksEchoed = 0
        public var droppedUplinkBytes = 0
        public var unknownMessages = 0
        /// Unreadable control messages and broken frames; each is also a transportError event
        /// with AudioBridgeError.protocolViolation.
        public var protocolErrors = 0
    }

    public init(configuration: PCMWebSocketAgentConfiguration, eventLoop: any EventLoop, logger: Logger = Logger(label: "audiobridge.pcm-agent")) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        fallback = AgentFallback(configuration.fallbackAgent, file: configuration.fallbackFile)
    }

    private var bytesPerMillisecond: Int { sampleRate / 1000 * 2 }
    private var frameBytes: Int { (session?.configuration.frameMilliseconds ?? 20) * bytesPerMillisecond }

    // MARK: AgentTransport (engine calls, on the event loop)

    public func attached(to session: Session) {
        self.session = session
        if case .pcm16(let rate) = session.configuration.agentFormat { sampleRate = rate }
        connect()
    }

    public func send(uplink audio: UnsafeRawBufferPointer) -> Int32 {
        if connected, let connection {
            // One message per frame, as the protocol promises (the engine may hand over several).
            for start in stride(from: 0, to: audio.count, by: frameBytes) {
                connection.send(binary: UnsafeRawBufferPointer(rebasing: audio[start..<min(audio.count, start + frameBytes)]))
            }
            return 0
        }
        let dropped = uplinkBacklog.append(audio, limit: configuration.maximumBufferedUplinkMilliseconds * bytesPerMillisecond)
        if dropped > 0 {
            statistics.droppedUplinkBytes += dropped
            session?.agent.report(SessionEvent(kind: .uplinkOverflow, count: UInt64(dropped / 2)))
        }
        return 0
    }

    public func handle(_ event: SessionEvent) {
        // The session's answer to our own transfer request (its item is the request id, not an
        // audio item); a hang-up the call pipeline carries out itself.
        if event.kind == .transferRequested {
            if let transfer = transfers.removeValue(forKey: event.item) { carryOut(transfer) }
            return
        }
        if !connected { fallback.handle(event) }
        if AgentFallback.isFallbackItem(event) { return }
        switch event.kind {
        case .bargeIn where serverClear != nil && event.code == SessionEvent.BargeInCause.interruptRequest.rawValue:
            serverClear?.heardMilliseconds = Int(event.heardMilliseconds)
        case .bargeIn:
            callerInterrupted(heardMilliseconds: Int(event.heardMilliseconds))
            // The session dropped the requests queued behind the cut audio.
            for transfer in transfers.values { answer(id: transfer.id, .refused("the caller interrupted; the call goes on"), connection: transfer.connection) }
            transfers.removeAll()
        case .playoutFinished:
            for name in marks.removeValue(forKey: event.item) ?? [] { echo(mark: name) }
        case .dtmf where connected:
            connection?.send(PCMStreamCodec.encode(.dtmf(digit: event.digit)))
        case .bargeInPending where connected:
            connection?.send(PCMStreamCodec.encode(.pause(heardMilliseconds: Int(event.heardMilliseconds))))
        case .bargeInResumed where connected:
            connection?.send(PCMStreamCodec.encode(.resume(heardMilliseconds: Int(event.heardMilliseconds), pausedMilliseconds: Int(event.count))))
        default:
            break
        }
    }

    public func poll(_ session: Session) {
        if !pendingControls.isEmpty, downlink.isEmpty { requestPendingControls(in: session) }
        guard connected else {
            drainDownlink()
            // The fallback waits until the caller has heard everything the server sent.
            if fallback.isPlaying || (fallback.mayStart && downlink.isEmpty && session.agent.queuedPlayoutSamples() == 0) { fallback.poll(session) }
            return
        }
        if let clear = serverClear {
            if clear.carriedOut {
                connection?.send(PCMStreamCodec.encode(.cleared(id: clear.id, heardMilliseconds: clear.heardMilliseconds)))
                serverClear = nil
            } else if session.interruptHandled(clear.request) {
                serverClear?.carriedOut = true
            }
        }
        drainDownlink()
    }

    public func close() {
        closed = true
        reconnect?.cancel()
        if connected { connection?.send(PCMStreamCodec.encode(.stop(reason: "hangup"))) }
        connection?.close()
        connection = nil
        connected = false
        fallback.close()
    }

    // MARK: Connection

    private func connect() {
        guard !closed, let url = ServerURL.webSocket(configuration.url) else {
            if !closed { logger.error("bad agent URL", metadata: ["url": "\(configuration.url)"]) }
            return
        }
        connectionNumber += 1
        connection = WebSocketClient.connect(url: url, headers: configuration.headers, additionalTrustRootsPEM: configuration.additionalTrustRootsPEM,
                                             maximumMessageBytes: configuration.maximumMessageBytes, eventLoop: eventLoop,
                                             timeout: .seconds(configuration.connectTimeoutSeconds), delegate: self)
    }

    private func protocolError(_ reason: String) {
        statistics.protocolErrors += 1
        session?.agent.report(SessionEvent(kind: .transportError, code: AudioBridgeError.protocolViolation.code))
        logger.warning("agent protocol error: \(reason)")
    }

    // MARK: Audio, marks and clears

    /// Starts a new item for the audio that follows; marks of items that will never finish
    /// playing (flushed) are forgotten.
    private func restartItems() {
        downlink.removeAll()
        marks.removeAll()
        lastAudioItem = nil
        splitByte = nil
        item &+= 1
        itemHasAudio = false
    }

    private func received(audio buffer: ByteBuffer) {
        guard awaitedClear == nil else {
            statistics.staleBytesDiscarded += buffer.readableBytes
            return
        }
        statistics.audioBytesReceived += buffer.readableBytes
        var bytes: [UInt8] = []
        bytes.reserveCapacity(buffer.readableBytes + 1)
        if let splitByte { bytes.append(splitByte) }
        bytes.append(contentsOf: buffer.readableBytesView)
        splitByte = bytes.count % 2 == 1 ? bytes.removeLast() : nil
        guard !bytes.isEmpty else { return }
        downlink.append(item: item, bytes)
        itemHasAudio = true
        drainDownlink()
    }

    private func received(mark name: String) {
        if itemHasAudio {
            downlink.end(item: item)
            marks[item, default: []].append(name)
            lastAudioItem = item
            item &+= 1
            itemHasAudio = false
        } else if let last = lastAudioItem, marks[last] != nil {
            marks[last]?.append(name)  // nothing since the last item: its mark comes back with it
        } else {
            echo(mark: name)  // nothing is playing: heard already
        }
        drainDownlink()
    }

    private func echo(mark name: String) {
        guard connected else { return }
        connection?.send(PCMStreamCodec.encode(.mark(name: name)))
        statistics.marksEchoed += 1
    }

    /// The caller talked over the agent (the session has cut playout already).
    private func callerInterrupted(heardMilliseconds: Int) {
        restartItems()
        guard connected, let connection else { return }
        let id = nextClearID
        nextClearID += 1
        awaitedClear = id
        connection.send(PCMStreamCodec.encode(.clear(id: id, heardMilliseconds: heardMilliseconds)))
        connection.pauseReading(false)
    }

    /// The server interrupts itself: flush, and answer once the cut is carried out.
    private func serverCleared(id: Int?) {
        guard let session else { return }
        restartItems()
        serverClear = (id, session.interrupt(), 0, false)
    }

    private func drainDownlink() {
        guard let session, fallback.allowsNetworkAudio(session) else { return }
        // Audio after the server's clear waits until the cut is carried out, or it would be cut too.
        if let clear = serverClear, !clear.carriedOut { return }
        let limit = configuration.maximumQueuedDownlinkMilliseconds * bytesPerMillisecond
        connection?.pauseReading(!downlink.drain(into: session) && downlink.byteCount > limit)
    }
}

extension PCMWebSocketAgent: WebSocketClientDelegate {
    func webSocketOpened() {
        connected = true
        backoff.reset()
        statistics.connects += 1
        awaitedClear = nil
        serverClear = nil
        let callID = configuration.callMetadata.first { $0.0 == "callId" || $0.0 == "callSid" }?.1 ?? ""
        let abilities = callControl?.abilities ?? CallControlAbilities()
        connection?.send(PCMStreamCodec.encode(.start(PCMStreamStart(callID: callID, sampleRate: sampleRate,
                                                                     frameMilliseconds: session?.configuration.frameMilliseconds ?? 20,
                                                                     metadata: configuration.callMetadata,
                                                                     canTransfer: abilities.transfer, canSendDTMF: abilities.sendDigits))))
        let held = uplinkBacklog.take()
        for start in stride(from: 0, to: held.count, by: frameBytes) {
            connection?.send(binary: held[start..<min(held.count, start + frameBytes)])
        }
        fallback.connected(session)
        session?.agent.report(SessionEvent(kind: .transportConnected))
        logger.info("agent connected", metadata: ["url": "\(configuration.url)"])
    }

    func webSocketReceived(binary: ByteBuffer) { received(audio: binary) }

    func webSocketReceived(text: [UInt8]) {
        let message: PCMStreamControl
        do {
            message = try PCMStreamCodec.decode(text)
        } catch {
            protocolError("unreadable message: \(error)")
            return
        }
        switch message {
        case .mark(let name):
            if awaitedClear == nil { received(mark: name) }
        case .clear(let id, _):
            serverCleared(id: id)
        case .cleared(let id, _):
            if awaitedClear != nil, id == nil || id == awaitedClear { awaitedClear = nil }
        case .transfer(let id, _) where !(callControl?.abilities.transfer ?? false):
            answer(id: id, .refused("this phone connection cannot transfer calls"), connection: connectionNumber)
        case .hangup, .transfer:
            pendingControls.append((message, connectionNumber))  // once what came before it has been heard
        case .sendDTMF(let id, let digits):
            let outcome = callControl?.sendDigits(digits) ?? .refused("the call is already over")
            answer(id: id, outcome, connection: connectionNumber)
        case .unknown, .start, .dtmf, .pause, .resume, .stop, .result:
            statistics.unknownMessages += 1  // not ours to receive: counted and ignored
        }
    }

    func webSocketProtocolError(_ error: Error) { protocolError("\(error)") }

    /// Everything the server sent before its hangups and transfers is in the session: they go
    /// into its playout queue behind it, in order (the rest wait a tick if the queue is full).
    private func requestPendingControls(in session: Session) {
        while let pending = pendingControls.first {
            do throws(AudioBridgeError) {
                switch pending.message {
                case .hangup(let reason):
                    try session.agent.requestHangup()
                    logger.info("agent asked to hang up", metadata: ["reason": "\(reason)"])
                case .transfer(let id, let target):
                    try session.agent.requestTransfer(nextTransferRequest)
                    transfers[nextTransferRequest] = (id, target, pending.connection)
                    nextTransferRequest += 1
                default:
                    break
                }
            } catch {
                return
            }
            pendingControls.removeFirst()
        }
    }

    /// The caller has heard what the server sent before its transfer: transfer now.
    private func carryOut(_ transfer: (id: Int?, target: String, connection: Int)) {
        guard let control = callControl else { return }
        control.transfer(to: transfer.target) { [weak self] outcome in self?.answer(id: transfer.id, outcome, connection: transfer.connection) }
    }

    private func answer(id: Int?, _ outcome: CallControlOutcome, connection number: Int) {
        guard connected, connectionNumber == number else { return }
        switch outcome {
        case .done(let detail): connection?.send(PCMStreamCodec.encode(.result(id: id, ok: true, text: detail)))
        case .refused(let reason): connection?.send(PCMStreamCodec.encode(.result(id: id, ok: false, text: reason)))
        }
    }

    func webSocketClosed(cause: String) {
        let wasConnected = connected
        connected = false
        connection = nil
        // What arrived keeps playing: the current item ends where its audio does, and the next
        // connection's audio starts a new one. Marks and clears belonged to this connection.
        if itemHasAudio {
            downlink.end(item: item)
            item &+= 1
            itemHasAudio = false
        }
        marks.removeAll()
        lastAudioItem = nil
        splitByte = nil
        awaitedClear = nil
        serverClear = nil
        fallback.connectionEnded()
        guard !closed else { return }
        if wasConnected { session?.agent.report(SessionEvent(kind: .transportDisconnected)) }
        let delay = backoff.nextDelay(minimum: configuration.reconnectMinimumMilliseconds, maximum: configuration.reconnectMaximumMilliseconds)
        logger.warning(wasConnected ? "agent connection lost; reconnecting" : "agent connect failed; retrying",
                       metadata: ["in_ms": "\(delay)", "cause": "\(cause)"])
        reconnect = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) { [weak self] in self?.connect() }
    }
}
