// SPDX-License-Identifier: MIT
// `--agent deepgram`: a session's agent side spoken to Deepgram's Voice Agent API
// (AudioBridgeProtocols/Deepgram/DeepgramAgentCodec.swift has the messages). Everything runs on
// the call's event loop, like the other network agents:
//
//   caller audio   BINARY, one message per 20 ms frame, in the Settings' input format (μ-law or
//                  A-law straight through on a G.711 phone side, else linear16 at the agent rate);
//                  held (bounded) while disconnected and sent on reconnect
//   agent audio    BINARY → session.agent.writeDownlink as it arrives; one answer is one item,
//                  from AgentStartedSpeaking to AgentAudioDone; what the playout queue cannot take
//                  waits, and past a bound the socket is not read (back-pressure)
//   barge-in       Deepgram's own: UserStartedSpeaking → playout cut at once (session.interrupt)
//                  and what is queued dropped. Ours (the session's detector): playout is cut
//                  locally and the rest of that answer discarded as it arrives; the protocol has
//                  no interrupt message and no place for the heard position — Deepgram hears the
//                  caller in the audio and stops on its own
//   tools          FunctionCallRequest (client_side) → CallTools; the result as a
//                  FunctionCallResponse. end_call / transfer_call: answered at once, then carried
//                  out once the goodbye that follows (up to its AgentAudioDone) has been heard —
//                  through the session's playout queue, so a caller who talks over it cancels it
//   key presses    gathered (`--dtmf-to-model text`) and given as an InjectUserMessage
//   connection     lost → reconnect with backoff; audio already received keeps playing; the
//                  fallback plays once nothing is queued; the new Settings carries the
//                  conversation so far (ConversationText turns) as agent.context history
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore

public final class DeepgramAgent: AgentTransport, CallControlled {
    private let live = LiveObject(.agent)
    let configuration: DeepgramAgentConfiguration
    let eventLoop: any EventLoop
    let logger: Logger
    private var session: Session?
    private var encoding = DeepgramAgentSettings.Encoding.linear16
    private var sampleRate = 16000
    private var bytesPerSample = 2
    private var connection: WebSocketClient?
    private var connected = false
    private var closed = false
    private var backoff = ReconnectBackoff()
    private var reconnect: Scheduled<Void>?
    private var keepAlive: Scheduled<Void>?
    private let fallback: AgentFallback
    private var transcript: ConversationTranscript
    private let callTools: CallTools
    private var keyPresses: CallerKeyPresses!
    weak var callControl: CallControl?
    private var connectionNumber = 0

    private var downlink = DownlinkQueue()
    /// The first byte of a linear16 sample whose second byte is in the next message.
    private var splitByte: UInt8?
    private var item = AgentFallback.firstNetworkItem
    private var itemHasAudio = false
    /// Bytes of each answer received, for the heard share of its transcript after a cut.
    private var itemBytes: [UInt64: Int] = [:]
    /// Our detector cut the answer playing: its audio still arriving is discarded until it ends.
    private var discardingCutAnswer = false
    /// end_call / transfer_call: carried out once the goodbye after them has been heard.
    private let callAction: CallActionAfterGoodbye
    /// Caller audio held while disconnected.
    private var uplinkBacklog = UplinkBacklog()

    /// What the agent did, for tests and logs (on the event loop).
    public private(set) var statistics = Statistics()
    public struct Statistics: Sendable, Equatable {
        public var connects = 0
        public var audioBytesReceived = 0
        /// Audio of an answer our detector cut, arriving after the cut.
        public var staleBytesDiscarded = 0
        public var providerBargeIns = 0
        public var toolCalls = 0
        public var droppedUplinkBytes = 0
        public var unknownMessages = 0
        public var providerErrors = 0
        public var protocolErrors = 0
    }

    public init(configuration: DeepgramAgentConfiguration, eventLoop: any EventLoop, logger: Logger = Logger(label: "audiobridge.deepgram")) {
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
        case .g711Passthrough:
            (encoding, sampleRate, bytesPerSample) = (session.configuration.phoneCodec == .alaw ? .alaw : .mulaw, 8000, 1)
        case .pcm16(let rate):
            (encoding, sampleRate, bytesPerSample) = (.linear16, rate, 2)
        }
        connect()
    }

    public func send(uplink audio: UnsafeRawBufferPointer) -> Int32 {
        if connected, let connection {
            for start in stride(from: 0, to: audio.count, by: frameBytes) {
                connection.send(binary: UnsafeRawBufferPointer(rebasing: audio[start..<min(audio.count, start + frameBytes)]))
            }
            return 0
        }
        let limit = configuration.maximumBufferedUplinkMilliseconds * sampleRate / 1000 * bytesPerSample
        let dropped = uplinkBacklog.append(audio, limit: limit)
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
        // The fallback waits until the caller has heard everything Deepgram sent.
        if fallback.isPlaying || (fallback.mayStart && downlink.isEmpty && session.agent.queuedPlayoutSamples() == 0) { fallback.poll(session) }
    }

    public func close() {
        closed = true
        keyPresses.cancel()
        reconnect?.cancel()
        keepAlive?.cancel()
        callAction.cancel()
        connection?.close()
        connection = nil
        connected = false
        fallback.close()
    }

    // MARK: Connection

    private func connect() {
        guard !closed, let url = ServerURL.webSocket(configuration.url) else {
            if !closed { logger.error("bad Deepgram URL", metadata: ["url": "\(configuration.url)"]) }
            return
        }
        var headers: [(String, String)] = configuration.apiKey.isEmpty ? [] : [("Authorization", "Token " + configuration.apiKey)]
        headers += configuration.headers
        connectionNumber += 1
        connection = WebSocketClient.connect(url: url, headers: headers, additionalTrustRootsPEM: configuration.additionalTrustRootsPEM,
                                             maximumMessageBytes: configuration.maximumMessageBytes, eventLoop: eventLoop,
                                             timeout: .seconds(configuration.connectTimeoutSeconds), delegate: self)
    }

    /// The Settings for this call: its formats, the call's description in the prompt, the tools
    /// the phone side allows, the greeting on the first connection only, and the conversation
    /// so far on a later one.
    private func callSettings() -> DeepgramAgentSettings {
        var settings = configuration.settings
        (settings.inputEncoding, settings.inputSampleRate) = (encoding, sampleRate)
        (settings.outputEncoding, settings.outputSampleRate) = (encoding, sampleRate)
        if !configuration.callMetadata.isEmpty {
            let description = configuration.callMetadata.map { "\($0.0)=\($0.1)" }.joined(separator: ", ")
            settings.prompt += (settings.prompt.isEmpty ? "" : "\n\n") + "This phone call: \(description)."
        }
        settings.functions = callTools.definitions(abilities: callControl?.abilities)
        if connectionNumber > 1 { settings.greeting = nil }
        settings.history = transcript.turns.map { ($0.speaker == .caller ? "user" : "assistant", $0.text) }
        return settings
    }

    private func protocolError(_ reason: String) {
        statistics.protocolErrors += 1
        session?.agent.report(SessionEvent(kind: .transportError, code: AudioBridgeError.protocolViolation.code))
        logger.warning("Deepgram protocol error: \(reason)")
    }

    // MARK: Audio and barge-in

    private func received(audio buffer: ByteBuffer) {
        guard !discardingCutAnswer else {
            statistics.staleBytesDiscarded += buffer.readableBytes
            return
        }
        statistics.audioBytesReceived += buffer.readableBytes
        var bytes: [UInt8] = []
        bytes.reserveCapacity(buffer.readableBytes + 1)
        if let splitByte { bytes.append(splitByte) }
        bytes.append(contentsOf: buffer.readableBytesView)
        splitByte = bytesPerSample == 2 && bytes.count % 2 == 1 ? bytes.removeLast() : nil
        guard !bytes.isEmpty else { return }
        downlink.append(item: item, bytes)
        itemBytes[item, default: 0] += bytes.count
        itemHasAudio = true
        drainDownlink()
    }

    /// The answer's audio is all sent: its item ends, and what follows is a new one.
    private func endAnswer() {
        if itemHasAudio {
            downlink.end(item: item)
            item &+= 1
            itemHasAudio = false
        }
        splitByte = nil
        discardingCutAnswer = false
        drainDownlink()
    }

    /// Our detector cut the answer playing (the session has cut playout already): what is
    /// queued goes, and the rest of that answer is discarded as it arrives.
    private func callerInterrupted(_ event: SessionEvent) {
        downlink.removeAll()
        splitByte = nil
        if itemHasAudio || event.item == item {
            discardingCutAnswer = true
            item &+= 1
            itemHasAudio = false
        }
        cutTranscript(event)
    }

    /// Deepgram heard the caller: cut at once whatever is playing or queued.
    private func userStartedSpeaking() {
        guard let session else { return }
        statistics.providerBargeIns += 1
        let playing = !downlink.isEmpty || itemHasAudio || session.agent.queuedPlayoutSamples() > 0
        downlink.removeAll()
        splitByte = nil
        if itemHasAudio {
            item &+= 1
            itemHasAudio = false
        }
        discardingCutAnswer = false
        if playing { _ = session.interrupt() }
    }

    private func cutTranscript(_ event: SessionEvent) {
        guard let total = itemBytes[event.item], total > 0 else { return }
        let heardBytes = Double(event.heardSamples) * Double(sampleRate) / 8000 * Double(bytesPerSample)
        transcript.cut(item: String(event.item), heardFraction: min(1, heardBytes / Double(total)))
    }

    private func drainDownlink() {
        guard let session, fallback.allowsNetworkAudio(session) else { return }
        let limit = configuration.maximumQueuedDownlinkMilliseconds * sampleRate / 1000 * bytesPerSample
        connection?.pauseReading(!downlink.drain(into: session) && downlink.byteCount > limit)
    }

    // MARK: Tools and key presses

    private func called(_ call: DeepgramFunctionCall) {
        guard call.clientSide else { return }  // Deepgram ran it and sends the response itself
        statistics.toolCalls += 1
        let connectionAtCall = connectionNumber
        callAction.toolCalled(callTools, name: call.name, arguments: call.arguments, control: callControl,
                              answer: { [weak self] output in self?.answer(call, output: output, connection: connectionAtCall) },
                              goodbyeStarted: { [weak self] in self?.itemHasAudio ?? false })
    }

    private func answer(_ call: DeepgramFunctionCall, output: String, connection number: Int) {
        guard connected, let connection, connectionNumber == number else {
            logger.info("tool result dropped with its connection", metadata: ["id": "\(call.id)"])
            return
        }
        connection.send(DeepgramAgentCodec.encode(.functionCallResponse(id: call.id, name: call.name, content: output)))
    }

    private func giveKeys(_ keys: String) {
        guard connected, let connection else { return }
        transcript.add(.caller, "[keys pressed: \(keys)]")
        connection.send(DeepgramAgentCodec.encode(.injectUserMessage(content: "[The caller pressed the phone keys: \(keys)]")))
    }
}

extension DeepgramAgent: WebSocketClientDelegate {
    func webSocketOpened() {
        connected = true
        backoff.reset()
        statistics.connects += 1
        discardingCutAnswer = false
        connection?.send(DeepgramAgentCodec.encode(.settings(callSettings())))
        let held = uplinkBacklog.take()
        for start in stride(from: 0, to: held.count, by: frameBytes) {
            connection?.send(binary: held[start..<min(held.count, start + frameBytes)])
        }
        scheduleKeepAlive()
        fallback.connected(session)
        session?.agent.report(SessionEvent(kind: .transportConnected))
        logger.info("Deepgram connected", metadata: ["url": "\(configuration.url)"])
    }

    private func scheduleKeepAlive() {
        keepAlive?.cancel()
        keepAlive = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(configuration.keepAliveMilliseconds)) { [weak self] in
            guard let self, self.connected else { return }
            self.connection?.send(DeepgramAgentCodec.encode(.keepAlive))
            self.scheduleKeepAlive()
        }
    }

    func webSocketReceived(binary: ByteBuffer) { received(audio: binary) }

    func webSocketReceived(text: [UInt8]) {
        let message: DeepgramServerMessage
        do {
            message = try DeepgramAgentCodec.decode(text)
        } catch {
            protocolError("unreadable message: \(error)")
            return
        }
        switch message {
        case .agentStartedSpeaking:
            if itemHasAudio { endAnswer() }
            discardingCutAnswer = false
        case .agentAudioDone:
            endAnswer()
            callAction.goodbyeEnded()
        case .userStartedSpeaking:
            userStartedSpeaking()
        case .conversationText(let role, let content):
            transcript.add(role == "user" ? .caller : .agent, content, item: role == "user" ? nil : String(item))
        case .functionCallRequest(let calls):
            for call in calls { called(call) }
        case .error(let description, let code):
            statistics.providerErrors += 1
            session?.agent.report(SessionEvent(kind: .transportError, code: AudioBridgeError.protocolViolation.code))
            logger.error("Deepgram error", metadata: ["description": "\(description)", "code": "\(code)"])
        case .warning(let description, let code):
            logger.warning("Deepgram warning", metadata: ["description": "\(description)", "code": "\(code)"])
        case .welcome, .settingsApplied, .agentThinking:
            break
        case .unknown:
            statistics.unknownMessages += 1
        }
    }

    func webSocketProtocolError(_ error: Error) { protocolError("\(error)") }

    func webSocketClosed(cause: String) {
        let wasConnected = connected
        connected = false
        connection = nil
        keepAlive?.cancel()
        // What arrived keeps playing: the current answer ends where its audio does.
        if itemHasAudio {
            downlink.end(item: item)
            item &+= 1
            itemHasAudio = false
        }
        splitByte = nil
        discardingCutAnswer = false
        fallback.connectionEnded()
        guard !closed else { return }
        if wasConnected { session?.agent.report(SessionEvent(kind: .transportDisconnected)) }
        let delay = backoff.nextDelay(minimum: configuration.reconnectMinimumMilliseconds, maximum: configuration.reconnectMaximumMilliseconds)
        logger.warning(wasConnected ? "Deepgram connection lost; reconnecting" : "Deepgram connect failed; retrying",
                       metadata: ["in_ms": "\(delay)", "cause": "\(cause)"])
        reconnect = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) { [weak self] in self?.connect() }
    }
}
