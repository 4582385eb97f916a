// SPDX-License-Identifier: MIT
// `--agent elevenlabs`: a session's agent side spoken to an ElevenLabs agent's conversation
// WebSocket (AudioBridgeProtocols/ElevenLabs/ElevenLabsAgentCodec.swift has the messages).
// Everything runs on the call's event loop, like the other network agents:
//
//   caller audio   one user_audio_chunk per 20 ms frame, in the agent's format (μ-law straight
//                  through with ulaw_8000 on a μ-law phone side, converted from the session's
//                  8 kHz PCM16 on another; PCM16 at its rate for pcm_*); held (bounded) while
//                  disconnected and sent on reconnect
//   agent audio    audio events → session.agent.writeDownlink as they arrive, with back-pressure;
//                  an answer is one item, from its agent_response to its last audio (the
//                  protocol has no end-of-answer event: quiet for answerQuietMilliseconds)
//   barge-in       ElevenLabs' interruption {event_id}: playout cut at once and audio of events up
//                  to that id dropped, queued or still arriving. Ours (the session's detector):
//                  playout cut locally and the cut answer's audio discarded until ElevenLabs'
//                  interruption or its next answer. The protocol has no place for the heard
//                  position
//   tools          client_tool_call → CallTools → client_tool_result; end_call / transfer_call
//                  answered at once and carried out once the goodbye after it has been heard
//   key presses    gathered and given as a user_message
//   ping           answered with a pong at once
//   connection     lost → reconnect with backoff; audio already received keeps playing; the
//                  fallback plays once nothing is queued; the conversation so far goes to the
//                  new connection as a contextual_update
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore

public final class ElevenLabsAgent: AgentTransport, CallControlled {
    private let live = LiveObject(.agent)
    let configuration: ElevenLabsAgentConfiguration
    let eventLoop: any EventLoop
    let logger: Logger
    private var session: Session?
    private var sampleRate = 16000
    /// Bytes per sample of the session's agent side.
    private var bytesPerSample = 2
    /// ulaw_8000 with a session that speaks PCM16: μ-law on the wire, converted here.
    private var convertsMuLaw = false
    private var connection: WebSocketClient?
    private var connected = false
    private var closed = false
    /// The agent's audio format is not the one configured: not used again this call.
    private var refused = false
    private var backoff = ReconnectBackoff()
    private var reconnect: Scheduled<Void>?
    private let fallback: AgentFallback
    private var transcript: ConversationTranscript
    private let callTools: CallTools
    private var keyPresses: CallerKeyPresses!
    weak var callControl: CallControl?
    private var connectionNumber = 0

    private var downlink = DownlinkQueue()
    private var item = AgentFallback.firstNetworkItem
    private var itemHasAudio = false
    private var itemBytes: [UInt64: Int] = [:]
    /// Audio events up to this id were interrupted: drop them.
    private var interruptedThrough = -1
    /// Our detector cut the answer playing: its audio is discarded until ElevenLabs' next answer
    /// or interruption.
    private var discardingCutAnswer = false
    private var answerEndTimer: Scheduled<Void>?
    /// end_call / transfer_call: carried out once the goodbye after them has been heard.
    private let callAction: CallActionAfterGoodbye
    private var uplinkBacklog = UplinkBacklog()

    public private(set) var statistics = Statistics()
    public struct Statistics: Sendable, Equatable {
        public var connects = 0
        public var audioBytesReceived = 0
        /// Audio of an interrupted or cut answer, dropped.
        public var staleBytesDiscarded = 0
        public var providerBargeIns = 0
        public var pongs = 0
        public var toolCalls = 0
        public var droppedUplinkBytes = 0
        public var unknownMessages = 0
        public var protocolErrors = 0
    }

    public init(configuration: ElevenLabsAgentConfiguration, eventLoop: any EventLoop, logger: Logger = Logger(label: "audiobridge.elevenlabs")) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        fallback = AgentFallback(configuration.fallbackAgent, file: configuration.fallbackFile)
        transcript = ConversationTranscript(maximumCharacters: configuration.maximumTranscriptCharacters)
        let callID = configuration.callMetadata.first { $0.0 == "callId" || $0.0 == "callSid" }?.1 ?? ""
        callAction = CallActionAfterGoodbye(eventLoop: eventLoop, goodbyeWaitMilliseconds: configuration.goodbyeWaitMilliseconds, logger: logger)
        callTools = CallTools(configuration: configuration.tools, callID: callID, metadata: configuration.callMetadata, eventLoop: eventLoop, logger: logger)
        keyPresses = CallerKeyPresses(mode: configuration.dtmfToModel == .tool ? .text : configuration.dtmfToModel,
                                      gap: .milliseconds(configuration.dtmfGapMilliseconds), eventLoop: eventLoop,
                                      giveText: { [weak self] keys in self?.giveKeys(keys) }, giveResult: { _, _, _ in })
    }

    private var frameBytes: Int { (session?.configuration.frameMilliseconds ?? 20) * sampleRate / 1000 * bytesPerSample }

    // MARK: AgentTransport (engine calls, on the event loop)

    public func attached(to session: Session) {
        self.session = session
        switch session.configuration.agentFormat {
        case .g711Passthrough: (sampleRate, bytesPerSample) = (8000, 1)
        case .pcm16(let rate): (sampleRate, bytesPerSample) = (rate, 2)
        }
        convertsMuLaw = configuration.format == "ulaw_8000" && bytesPerSample == 2
        connect()
    }

    public func send(uplink audio: UnsafeRawBufferPointer) -> Int32 {
        if connected, let connection {
            for start in stride(from: 0, to: audio.count, by: frameBytes) {
                connection.send(ElevenLabsAgentCodec.encode(.userAudioChunk(wire(UnsafeRawBufferPointer(rebasing: audio[start..<min(audio.count, start + frameBytes)])))))
            }
            return 0
        }
        let dropped = uplinkBacklog.append(audio, limit: configuration.maximumBufferedUplinkMilliseconds * sampleRate / 1000 * bytesPerSample)
        if dropped > 0 {
            statistics.droppedUplinkBytes += dropped
            session?.agent.report(SessionEvent(kind: .uplinkOverflow, count: UInt64(dropped / bytesPerSample)))
        }
        return 0
    }

    public func handle(_ event: SessionEvent) {
        if event.kind == .transferRequested || event.kind == .hangupRequested {
            callAction.sessionGranted(control: callControl)
            return
        }
        if !connected { fallback.handle(event) }
        if AgentFallback.isFallbackItem(event) { return }
        switch event.kind {
        case .bargeIn:
            callAction.bargeIn()
            if event.code != SessionEvent.BargeInCause.interruptRequest.rawValue { callerInterrupted(event) }
        case .dtmf:
            keyPresses.pressed(event.digit)
        default:
            break
        }
    }

    public func poll(_ session: Session) {
        drainDownlink()
        callAction.poll(session, downlinkIsEmpty: downlink.isEmpty)
        guard !connected else { return }
        if fallback.isPlaying || (fallback.mayStart && downlink.isEmpty && session.agent.queuedPlayoutSamples() == 0) { fallback.poll(session) }
    }

    public func close() {
        closed = true
        keyPresses.cancel()
        reconnect?.cancel()
        answerEndTimer?.cancel()
        callAction.cancel()
        connection?.close()
        connection = nil
        connected = false
        fallback.close()
    }

    // MARK: Connection

    private func connect() {
        guard !closed, !refused, let url = ServerURL.webSocket(configuration.url) else {
            if !closed, !refused { logger.error("bad ElevenLabs URL", metadata: ["url": "\(configuration.url)"]) }
            return
        }
        var headers: [(String, String)] = configuration.apiKey.isEmpty ? [] : [("xi-api-key", configuration.apiKey)]
        headers += configuration.headers
        connectionNumber += 1
        connection = WebSocketClient.connect(url: url, headers: headers, additionalTrustRootsPEM: configuration.additionalTrustRootsPEM,
                                             maximumMessageBytes: configuration.maximumMessageBytes, eventLoop: eventLoop,
                                             timeout: .seconds(configuration.connectTimeoutSeconds), delegate: self)
    }

    private func initiation() -> ElevenLabsClientMessage {
        var variables: [String: String] = [:]
        for (name, value) in configuration.callMetadata { variables[name] = value }
        guard configuration.overridePrompt else {
            return .initiation(prompt: nil, firstMessage: nil, language: nil, dynamicVariables: variables)
        }
        // After a reconnect the agent does not greet again.
        return .initiation(prompt: configuration.prompt, firstMessage: connectionNumber > 1 ? "" : nil, language: nil, dynamicVariables: variables)
    }

    /// The conversation so far, for a new connection (its server has forgotten it).
    private var conversationSoFar: String? {
        guard !transcript.turns.isEmpty else { return nil }
        let lines = transcript.turns.map { ($0.speaker == .caller ? "Caller: " : "You: ") + $0.text }
        return "The connection was restored. The conversation so far:\n" + lines.joined(separator: "\n")
    }

    private func protocolError(_ reason: String) {
        statistics.protocolErrors += 1
        session?.agent.report(SessionEvent(kind: .transportError, code: AudioBridgeError.protocolViolation.code))
        logger.warning("ElevenLabs protocol error: \(reason)")
    }

    // MARK: Audio and barge-in

    /// Session audio as the agent takes it.
    private func wire(_ audio: UnsafeRawBufferPointer) -> [UInt8] {
        guard convertsMuLaw else { return Array(audio) }
        let samples = audio.bindMemory(to: Int16.self)
        return samples.map { ULaw.encode($0) }
    }

    /// The agent's audio as the session takes it.
    private func session(_ bytes: [UInt8]) -> [UInt8] {
        guard convertsMuLaw else { return bytes }
        var pcm = [UInt8]()
        pcm.reserveCapacity(bytes.count * 2)
        for code in bytes {
            let sample = UInt16(bitPattern: ULaw.decode(code))
            pcm.append(UInt8(truncatingIfNeeded: sample))
            pcm.append(UInt8(truncatingIfNeeded: sample >> 8))
        }
        return pcm
    }

    private func received(audio wireBytes: [UInt8], eventID: Int) {
        let bytes = session(wireBytes)
        guard eventID > interruptedThrough, !discardingCutAnswer else {
            statistics.staleBytesDiscarded += bytes.count
            return
        }
        statistics.audioBytesReceived += bytes.count
        let whole = bytes.count - bytes.count % bytesPerSample
        guard whole > 0 else { return }
        downlink.append(item: item, whole == bytes.count ? bytes : Array(bytes[..<whole]))
        itemBytes[item, default: 0] += whole
        itemHasAudio = true
        scheduleAnswerEnd()
        drainDownlink()
    }

    /// No end-of-answer event exists: an answer ends once its audio has stopped coming.
    private func scheduleAnswerEnd() {
        answerEndTimer?.cancel()
        answerEndTimer = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(configuration.answerQuietMilliseconds)) { [weak self] in
            guard let self else { return }
            self.endAnswer()
            self.callAction.goodbyeEnded()
        }
    }

    private func endAnswer() {
        if itemHasAudio {
            downlink.end(item: item)
            item &+= 1
            itemHasAudio = false
        }
        drainDownlink()
    }

    private func callerInterrupted(_ event: SessionEvent) {
        downlink.removeAll()
        if itemHasAudio || event.item == item {
            discardingCutAnswer = true
            item &+= 1
            itemHasAudio = false
        }
        if let total = itemBytes[event.item], total > 0 {
            let heardBytes = Double(event.heardSamples) * Double(sampleRate) / 8000 * Double(bytesPerSample)
            transcript.cut(item: String(event.item), heardFraction: min(1, heardBytes / Double(total)))
        }
    }

    /// ElevenLabs heard the caller: cut whatever is playing or queued of events up to `eventID`.
    private func interrupted(through eventID: Int) {
        guard let session else { return }
        statistics.providerBargeIns += 1
        interruptedThrough = max(interruptedThrough, eventID)
        discardingCutAnswer = false
        let playing = !downlink.isEmpty || itemHasAudio || session.agent.queuedPlayoutSamples() > 0
        downlink.removeAll()
        if itemHasAudio {
            item &+= 1
            itemHasAudio = false
        }
        if playing { _ = session.interrupt() }
    }

    private func drainDownlink() {
        guard let session, fallback.allowsNetworkAudio(session) else { return }
        let limit = configuration.maximumQueuedDownlinkMilliseconds * sampleRate / 1000 * bytesPerSample
        connection?.pauseReading(!downlink.drain(into: session) && downlink.byteCount > limit)
    }

    // MARK: Tools and key presses

    private func called(name: String, id: String, parameters: String) {
        statistics.toolCalls += 1
        let connectionAtCall = connectionNumber
        callAction.toolCalled(callTools, name: name, arguments: parameters, control: callControl,
                              answer: { [weak self] output in self?.answer(id: id, output: output, connection: connectionAtCall) },
                              goodbyeStarted: { [weak self] in self?.itemHasAudio ?? false })
    }

    private func answer(id: String, output: String, connection number: Int) {
        guard connected, let connection, connectionNumber == number else {
            logger.info("tool result dropped with its connection", metadata: ["id": "\(id)"])
            return
        }
        connection.send(ElevenLabsAgentCodec.encode(.clientToolResult(toolCallID: id, result: output, isError: false)))
    }

    private func giveKeys(_ keys: String) {
        guard connected, let connection else { return }
        transcript.add(.caller, "[keys pressed: \(keys)]")
        connection.send(ElevenLabsAgentCodec.encode(.userMessage(text: "[The caller pressed the phone keys: \(keys)]")))
    }
}

extension ElevenLabsAgent: WebSocketClientDelegate {
    func webSocketOpened() {
        connected = true
        backoff.reset()
        statistics.connects += 1
        interruptedThrough = -1  // event ids are the connection's
        discardingCutAnswer = false
        connection?.send(ElevenLabsAgentCodec.encode(initiation()))
        if connectionNumber > 1, let context = conversationSoFar {
            connection?.send(ElevenLabsAgentCodec.encode(.contextualUpdate(text: context)))
        }
        let held = uplinkBacklog.take()
        for start in stride(from: 0, to: held.count, by: frameBytes) {
            held[start..<min(held.count, start + frameBytes)].withUnsafeBytes {
                connection?.send(ElevenLabsAgentCodec.encode(.userAudioChunk(wire($0))))
            }
        }
        fallback.connected(session)
        session?.agent.report(SessionEvent(kind: .transportConnected))
        logger.info("ElevenLabs connected")
    }

    func webSocketReceived(binary: ByteBuffer) {
        statistics.unknownMessages += 1  // the protocol is all text
    }

    func webSocketReceived(text: [UInt8]) {
        let message: ElevenLabsServerMessage
        do {
            message = try ElevenLabsAgentCodec.decode(text)
        } catch {
            protocolError("unreadable message: \(error)")
            return
        }
        switch message {
        case .initiationMetadata(_, let output, let input):
            guard output == configuration.format, input == configuration.format else {
                logger.error("ElevenLabs agent's audio format is not --elevenlabs-format; not using it for this call",
                             metadata: ["agent_output": "\(output)", "user_input": "\(input)", "expected": "\(configuration.format)"])
                refused = true
                session?.agent.report(SessionEvent(kind: .transportError, code: AudioBridgeError.unsupportedCodec.code))
                connection?.close()
                return
            }
        case .audio(let eventID, let bytes):
            received(audio: bytes, eventID: eventID)
        case .interruption(let eventID):
            interrupted(through: eventID)
        case .ping(let eventID, _):
            statistics.pongs += 1
            connection?.send(ElevenLabsAgentCodec.encode(.pong(eventID: eventID)))
        case .agentResponse(let text):
            // A new answer: what came before it is a finished one.
            if itemHasAudio { endAnswer() }
            discardingCutAnswer = false
            transcript.add(.agent, text, item: String(item))
        case .agentResponseCorrection:
            break
        case .userTranscript(let text):
            transcript.add(.caller, text)
        case .clientToolCall(let name, let id, let parameters):
            called(name: name, id: id, parameters: parameters)
        case .unknown:
            statistics.unknownMessages += 1
        }
    }

    func webSocketProtocolError(_ error: Error) { protocolError("\(error)") }

    func webSocketClosed(cause: String) {
        let wasConnected = connected
        connected = false
        connection = nil
        if itemHasAudio {
            downlink.end(item: item)
            item &+= 1
            itemHasAudio = false
        }
        discardingCutAnswer = false
        fallback.connectionEnded()
        guard !closed else { return }
        if wasConnected { session?.agent.report(SessionEvent(kind: .transportDisconnected)) }
        guard !refused else { return }
        let delay = backoff.nextDelay(minimum: configuration.reconnectMinimumMilliseconds, maximum: configuration.reconnectMaximumMilliseconds)
        logger.warning(wasConnected ? "ElevenLabs connection lost; reconnecting" : "ElevenLabs connect failed; retrying",
                       metadata: ["in_ms": "\(delay)", "cause": "\(cause)"])
        reconnect = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) { [weak self] in self?.connect() }
    }
}
