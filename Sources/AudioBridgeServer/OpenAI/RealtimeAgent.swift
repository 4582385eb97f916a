// SPDX-License-Identifier: MIT
// `--agent openai`: a session's agent side spoken over the OpenAI Realtime WebSocket.
//
// Everything runs on one event loop — the call's — which is also where the loop's engine calls
// send/handle/poll, so the WebSocket handler and the engine never race.
//
//   caller audio   send(uplink:) → input_audio_buffer.append (held, bounded, while disconnected)
//   model audio    audio deltas → session.agent.writeDownlink as they arrive; what the playout
//                  queue cannot take waits here, and past a bound the socket is not read
//                  (back-pressure: nothing is dropped); audio.done → endItem
//   barge-in       the session's bargeIn (its own detector, or an interrupt we request when the
//                  server's VAD hears speech) → response.cancel if a response is running, and
//                  conversation.item.truncate of the cut item at the heard position (exact ms,
//                  never past what the model sent); later deltas of that item are discarded
//   turns          server VAD, or ours: speech stopped → input_audio_buffer.commit + response.create
//   connection     lost → reconnect with backoff. Model audio already received keeps playing (a
//                  drop is not a barge-in); the fallback agent plays only once nothing is queued.
//                  Item and response ids belong to the connection that made them: a cut of an
//                  item from a dropped connection is carried out locally and never sent to the
//                  next one (which would answer "item does not exist").
//   tools          the call-control functions the phone side supports and the deployment's own
//                  (CallTools); end_call and transfer_call wait until the answer that asked for
//                  them is done and all of it is in the session, then ride its playout queue
//                  (Session.agent.requestHangup/requestTransfer): the session says when it has
//                  been heard, and drops the request if the caller cuts the answer first. Every
//                  call gets its output, then a response.create once no response is running
//   key presses    CallerKeyPresses: as a user text item (and a response asked for), or as the
//                  result of the model's collect_digits call, or not at all
//   conversation   the caller's and the model's turns as text (from the transcripts the model
//                  sends), bounded; a new connection gets them as conversation items after its
//                  session.update, so the model goes on where it was
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore

public final class RealtimeAgent: AgentTransport, CallControlled {
    private let live = LiveObject(.agent)
    let configuration: RealtimeAgentConfiguration
    let eventLoop: any EventLoop
    let logger: Logger
    private var session: Session?
    private var format: RealtimeAudioFormat = .pcm16
    private var connection: WebSocketClient?
    /// Counts connections; the model's ids are only meaningful on the one that made them.
    private var connectionNumber = 0
    private var connected = false
    private var closed = false
    private var backoff = ReconnectBackoff()
    private var reconnect: Scheduled<Void>?

    /// Model audio not yet taken by the session, in arrival order, and item ends.
    private var downlink = DownlinkQueue()
    /// Model items (per connection) ↔ session items, and what the model sent of each (for truncation).
    private var sessionItems: [ModelItem: UInt64] = [:]
    private var modelItems: [UInt64: (model: ModelItem, receivedBytes: Int)] = [:]
    private var nextItem = AgentFallback.firstNetworkItem
    private var cancelledItems: Set<ModelItem> = []
    /// Session items with audio queued and no end yet: ended when their connection drops.
    private var openItems: [UInt64] = []
    private var activeResponse: String?
    /// The conversation so far, for the next connection.
    private var transcript: ConversationTranscript
    weak var callControl: CallControl?
    private let callTools: CallTools
    /// end_call / transfer_call waiting for their answer to be heard.
    private var pendingAction: PendingCallAction?
    /// A response.create to send once the running response is done (tool outputs, key presses).
    private var responseWanted = false
    /// The caller's key presses, on their way to the model.
    private var keyPresses: CallerKeyPresses!
    /// Caller audio held while disconnected.
    private var uplinkBacklog = UplinkBacklog()
    private let fallback: AgentFallback

    /// What the agent did, for tests and logs (on the event loop).
    public private(set) var statistics = Statistics()
    public struct Statistics: Sendable, Equatable {
        public var connects = 0
        public var deltas = 0
        public var discardedDeltas = 0
        public var truncates = 0
        public var cancels = 0
        public var droppedUplinkBytes = 0
        public var unknownEvents = 0
        /// Turns of the conversation given to a new connection as text items.
        public var carriedTurns = 0
        /// Function calls from the model.
        public var toolCalls = 0
        /// `error` events from the server.
        public var serverErrors = 0
        /// Messages we could not read (malformed JSON, bad base64, binary) and broken frames;
        /// each is also a transportError event with AudioBridgeError.protocolViolation.
        public var protocolErrors = 0
    }

    public init(configuration: RealtimeAgentConfiguration, eventLoop: any EventLoop, logger: Logger = Logger(label: "audiobridge.openai")) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        fallback = AgentFallback(configuration.fallbackAgent, file: configuration.fallbackFile)
        transcript = ConversationTranscript(maximumCharacters: configuration.maximumTranscriptCharacters)
        let callID = configuration.callMetadata.first { $0.0 == "callId" || $0.0 == "callSid" }?.1 ?? ""
        callTools = CallTools(configuration: configuration.tools, callID: callID, metadata: configuration.callMetadata, eventLoop: eventLoop, logger: logger)
        keyPresses = CallerKeyPresses(mode: configuration.dtmfToModel, gap: .milliseconds(configuration.dtmfGapMilliseconds), eventLoop: eventLoop,
                                      giveText: { [weak self] keys in self?.giveKeys(keys) },
                                      giveResult: { [weak self] callID, connection, output in self?.answerTool(callID: callID, output: output, connection: connection) })
    }

    // MARK: AgentTransport (engine calls, on the event loop)

    public func attached(to session: Session) {
        self.session = session
        switch session.configuration.agentFormat {
        case .g711Passthrough: format = session.configuration.phoneCodec == .alaw ? .alaw : .ulaw
        case .pcm16: format = .pcm16
        }
        connect()
    }

    public func send(uplink audio: UnsafeRawBufferPointer) -> Int32 {
        if connected, let connection {
            connection.send(RealtimeCodec.encode(.appendAudio(Array(audio)), version: configuration.version))
            return 0
        }
        let dropped = uplinkBacklog.append(audio, limit: configuration.maximumBufferedUplinkMilliseconds * format.bytesPerMillisecond)
        if dropped > 0 {
            statistics.droppedUplinkBytes += dropped
            session?.agent.report(SessionEvent(kind: .uplinkOverflow, count: UInt64(dropped)))
        }
        return 0
    }

    public func handle(_ event: SessionEvent) {
        // The session's answer to our own request (its item is the request id, not an audio item).
        if event.kind == .hangupRequested || event.kind == .transferRequested {
            if let pending = pendingAction, pending.requested { carryOut(pending) }
            return
        }
        if !connected { fallback.handle(event) }
        if AgentFallback.isFallbackItem(event) { return }
        switch event.kind {
        case .bargeIn:
            interrupted(item: event.item, heardMilliseconds: Int(event.heardMilliseconds))
            if let pending = pendingAction {
                // The caller talked over the goodbye (or the words before a transfer): the
                // conversation goes on, as the session does with its own requests.
                pendingAction = nil
                if connected, connectionNumber == pending.connection {
                    connection?.send(RealtimeCodec.encode(.functionCallOutput(callID: pending.callID,
                        output: CallControlOutcome.refused("the caller interrupted; the call goes on").json), version: configuration.version))
                }
            }
        case .speechStopped where configuration.localTurnDetection && connected:
            connection?.send(RealtimeCodec.encode(.commitAudio, version: configuration.version))
            connection?.send(RealtimeCodec.encode(.createResponse, version: configuration.version))
        case .dtmf:
            keyPresses.pressed(event.digit)
        default:
            break
        }
    }

    public func poll(_ session: Session) {
        drainDownlink()
        if let pending = pendingAction, pending.responseDone, !pending.requested, downlink.isEmpty { request(pending, in: session) }
        // The fallback waits until the caller has heard everything the model sent.
        if !connected, fallback.isPlaying || (fallback.mayStart && downlink.isEmpty && session.agent.queuedPlayoutSamples() == 0) { fallback.poll(session) }
    }

    public func close() {
        // The call ended on our end_call (the pipeline hung up on the session's event, maybe
        // before the event reached us): the model is told before its connection closes.
        if let pending = pendingAction, pending.requested, case .endAfterPlayout = pending.action { carryOut(pending) }
        closed = true
        keyPresses.cancel()
        reconnect?.cancel()
        connection?.close()
        connection = nil
        connected = false
        fallback.close()
    }

    // MARK: Connection

    private func connect() {
        guard !closed, let url = ServerURL.webSocket(configuration.connectURL) else {
            if !closed { logger.error("bad Realtime URL", metadata: ["url": "\(configuration.url)"]) }
            return
        }
        var headers: [(String, String)] = configuration.apiKey.isEmpty ? [] : [("Authorization", "Bearer " + configuration.apiKey)]
        if configuration.version == .beta { headers.append(("OpenAI-Beta", "realtime=v1")) }
        headers += configuration.headers
        connectionNumber += 1
        connection = WebSocketClient.connect(url: url, headers: headers, additionalTrustRootsPEM: configuration.additionalTrustRootsPEM,
                                             maximumMessageBytes: configuration.maximumMessageBytes, eventLoop: eventLoop,
                                             timeout: .seconds(configuration.connectTimeoutSeconds), delegate: self)
    }

    private func protocolError(_ reason: String) {
        statistics.protocolErrors += 1
        session?.agent.report(SessionEvent(kind: .transportError, code: AudioBridgeError.protocolViolation.code))
        logger.warning("Realtime protocol error: \(reason)")
    }
}

extension RealtimeAgent: WebSocketClientDelegate {
    func webSocketOpened() {
        connected = true
        backoff.reset()
        statistics.connects += 1
        var settings = configuration.settings
        settings.format = format
        settings.instructions = configuration.instructionsWithContext
        if configuration.localTurnDetection { settings.turnDetection = .none }
        settings.tools = callTools.definitions(abilities: callControl?.abilities) + (keyPresses.mode == .tool ? [CallerKeyPresses.tool] : [])
        connection?.send(RealtimeCodec.encode(.sessionUpdate(settings), version: configuration.version))
        for turn in transcript.turns {
            connection?.send(RealtimeCodec.encode(.createTextItem(role: turn.speaker == .caller ? .user : .assistant, text: turn.text), version: configuration.version))
            statistics.carriedTurns += 1
        }
        let held = uplinkBacklog.take()
        if !held.isEmpty { connection?.send(RealtimeCodec.encode(.appendAudio(held), version: configuration.version)) }
        // Whatever the fallback is playing stops now: the model speaks from here on.
        fallback.connected(session)
        session?.agent.report(SessionEvent(kind: .transportConnected))
        logger.info("Realtime connected", metadata: transcript.turns.isEmpty ? [:] : ["turns_carried": "\(transcript.turns.count)"])
    }

    func webSocketProtocolError(_ error: Error) { protocolError("\(error)") }

    func webSocketReceived(binary: ByteBuffer) { protocolError("a binary message (\(binary.readableBytes) bytes)") }

    func webSocketClosed(cause: String) {
        let wasConnected = connected
        connected = false
        connection = nil
        activeResponse = nil
        responseWanted = false
        // An end or transfer waiting for its response: what came of the answer plays, then it happens.
        pendingAction?.responseDone = true
        // What arrived keeps playing; an item the model never finished ends where its audio does.
        for item in openItems { downlink.end(item: item) }
        openItems.removeAll()
        fallback.connectionEnded()
        guard !closed else { return }
        if wasConnected { session?.agent.report(SessionEvent(kind: .transportDisconnected)) }
        let delay = backoff.nextDelay(minimum: configuration.reconnectMinimumMilliseconds, maximum: configuration.reconnectMaximumMilliseconds)
        logger.warning(wasConnected ? "Realtime connection lost; reconnecting" : "Realtime connect failed; retrying",
                       metadata: ["in_ms": "\(delay)", "cause": "\(cause)"])
        reconnect = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) { [weak self] in self?.connect() }
    }

    func webSocketReceived(text: [UInt8]) {
        let event: RealtimeServerEvent
        do {
            event = try RealtimeCodec.decode(text)
        } catch {
            protocolError("unreadable event: \(error)")
            return
        }
        switch event {
        case .audioDelta(let responseID, let itemID, _, let audio):
            let model = ModelItem(connection: connectionNumber, id: itemID)
            guard !cancelledItems.contains(model) else { statistics.discardedDeltas += 1; return }
            statistics.deltas += 1
            if activeResponse == nil { activeResponse = responseID }
            let item = sessionItem(for: model)
            modelItems[item]?.receivedBytes += audio.count
            downlink.append(item: item, audio)
            drainDownlink()
        case .audioDone(_, let itemID):
            let model = ModelItem(connection: connectionNumber, id: itemID)
            if let item = sessionItems[model], !cancelledItems.contains(model) {
                downlink.end(item: item)
                openItems.removeAll { $0 == item }
                drainDownlink()
            }
        case .inputTranscript(_, let text):
            transcript.add(.caller, text)
        case .outputTranscript(_, let itemID, let text):
            transcript.add(.agent, text, item: ModelItem(connection: connectionNumber, id: itemID).description)
        case .responseCreated(let responseID):
            activeResponse = responseID
        case .responseDone(let responseID, _):
            if activeResponse == responseID { activeResponse = nil }
            if pendingAction?.responseID == responseID { pendingAction?.responseDone = true }
            if responseWanted, activeResponse == nil { requestResponse() }
        case .functionCall(let responseID, let callID, let name, let arguments):
            calledTool(name, arguments: arguments, callID: callID, responseID: responseID)
        case .speechStarted:
            // The server heard the caller: cut local playout too (the session reports bargeIn,
            // which comes back here as a truncation).
            if !configuration.localTurnDetection { session?.interrupt() }
        case .error(let type, let code, let message):
            statistics.serverErrors += 1
            logger.warning("Realtime error", metadata: ["type": "\(type)", "code": "\(code ?? "-")", "message": "\(message)"])
        case .unknown:
            statistics.unknownEvents += 1
        case .sessionCreated, .sessionUpdated, .speechStopped, .inputCommitted, .truncated:
            break
        }
    }
}

extension RealtimeAgent {
    // MARK: Tools and key presses

    private func calledTool(_ name: String, arguments: String, callID: String, responseID: String?) {
        statistics.toolCalls += 1
        let connectionAtCall = connectionNumber
        if name == CallerKeyPresses.collectDigits, keyPresses.mode == .tool {
            return keyPresses.collect(callID: callID, connection: connectionAtCall, arguments: (try? JSONParser.parse(Array(arguments.utf8))) ?? .object([]))
        }
        let action = callTools.run(name: name, arguments: arguments, control: callControl) { [weak self] output in
            self?.answerTool(callID: callID, output: output, connection: connectionAtCall)
        }
        switch action {
        case .answer(let output):
            answerTool(callID: callID, output: output, connection: connectionAtCall)
        case .pending:
            break
        case .endAfterPlayout, .transferAfterPlayout:
            // After the answer that asked for it: the response it came in must be done first.
            pendingAction = PendingCallAction(action: action, callID: callID, connection: connectionAtCall, responseID: responseID,
                                              responseDone: responseID == nil || activeResponse != responseID)
        }
    }

    /// The answer is done and all of it is in the session: the request goes into its playout
    /// queue behind it (retried next tick if the marker queue is full).
    private func request(_ pending: PendingCallAction, in session: Session) {
        do throws(AudioBridgeError) {
            if case .transferAfterPlayout = pending.action { try session.agent.requestTransfer(1) } else { try session.agent.requestHangup() }
            pendingAction?.requested = true
        } catch {}
    }

    /// The session says the answer has been heard: tell the model, or transfer now (the call
    /// pipeline hangs up on the session's hangupRequested itself).
    private func carryOut(_ pending: PendingCallAction) {
        pendingAction = nil
        guard let control = callControl else { return }
        switch pending.action {
        case .endAfterPlayout:
            // The model is told, though the call is ending: its record of the conversation stays whole.
            if connected, connectionNumber == pending.connection {
                connection?.send(RealtimeCodec.encode(.functionCallOutput(callID: pending.callID, output: CallControlOutcome.done("the call ended").json),
                                                      version: configuration.version))
            }
        case .transferAfterPlayout(let target):
            control.transfer(to: target) { [weak self] outcome in
                self?.answerTool(callID: pending.callID, output: outcome.json, connection: pending.connection)
            }
        case .answer, .pending:
            break
        }
    }

    /// A function call's output, then a response so the model speaks about it. A call made on a
    /// connection that has since dropped cannot be answered: that connection's model is gone.
    private func answerTool(callID: String, output: String, connection number: Int) {
        guard connected, let connection, connectionNumber == number else {
            logger.info("tool result dropped with its connection", metadata: ["call_id": "\(callID)"])
            return
        }
        connection.send(RealtimeCodec.encode(.functionCallOutput(callID: callID, output: output), version: configuration.version))
        requestResponse()
    }

    /// response.create now, or when the running response is done (one at a time per session).
    private func requestResponse() {
        guard connected, let connection else { return }
        guard activeResponse == nil else { responseWanted = true; return }
        responseWanted = false
        connection.send(RealtimeCodec.encode(.createResponse, version: configuration.version))
    }

    /// Key presses as text: a user item, and a response asked for.
    private func giveKeys(_ keys: String) {
        guard connected, let connection else { return }
        transcript.add(.caller, "[keys pressed: \(keys)]")
        connection.send(RealtimeCodec.encode(.createTextItem(role: .user, text: "[The caller pressed the phone keys: \(keys)]"), version: configuration.version))
        requestResponse()
    }
}

/// end_call or transfer_call between the model's call and the caller having heard the answer.
private struct PendingCallAction {
    var action: CallToolAction
    var callID: String
    var connection: Int
    var responseID: String?
    /// The response that made the call is done (or its connection dropped): no more audio comes.
    var responseDone: Bool
    /// Placed in the session's playout queue; its event comes when the answer has been heard.
    var requested = false
}

/// A model item id on the connection that made it (a new connection may reuse the same ids).
struct ModelItem: Hashable, CustomStringConvertible {
    var connection: Int
    var id: String

    var description: String { "\(connection)/\(id)" }
}

extension RealtimeAgent {
    // MARK: Audio and barge-in

    private func sessionItem(for model: ModelItem) -> UInt64 {
        if let item = sessionItems[model] { return item }
        let item = nextItem
        nextItem &+= 1
        sessionItems[model] = item
        modelItems[item] = (model, 0)
        openItems.append(item)
        return item
    }

    /// Offers queued model audio to the session until it is full; pauses or resumes reading.
    private func drainDownlink() {
        guard let session, fallback.allowsNetworkAudio(session) else { return }  // poll() tries again next tick
        let limit = configuration.maximumQueuedDownlinkMilliseconds * format.bytesPerMillisecond
        connection?.pauseReading(!downlink.drain(into: session) && downlink.byteCount > limit)
    }

    private func interrupted(item: UInt64, heardMilliseconds: Int) {
        guard let model = modelItems[item] else { return }
        cancelledItems.insert(model.model)
        downlink.remove(item: item)
        openItems.removeAll { $0 == item }
        let sentMilliseconds = model.receivedBytes / format.bytesPerMillisecond
        if sentMilliseconds > 0 {
            transcript.cut(item: model.model.description, heardFraction: Double(heardMilliseconds) / Double(sentMilliseconds))
        }
        // The connection that made the item is the only one that knows it.
        guard connected, let connection, model.model.connection == connectionNumber else { return }
        if activeResponse != nil {
            connection.send(RealtimeCodec.encode(.cancelResponse(responseID: nil), version: configuration.version))
            statistics.cancels += 1
            activeResponse = nil
        }
        // The model keeps what the caller heard, and never more than it sent.
        let end = min(heardMilliseconds, sentMilliseconds)
        if end > 0 {
            connection.send(RealtimeCodec.encode(.truncate(itemID: model.model.id, contentIndex: 0, audioEndMilliseconds: end), version: configuration.version))
            statistics.truncates += 1
        }
        connection.pauseReading(false)
    }
}
