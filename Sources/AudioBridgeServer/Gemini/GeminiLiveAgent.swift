// SPDX-License-Identifier: MIT
// `--agent gemini`: a session's agent side spoken to Google's Gemini Live API
// (AudioBridgeProtocols/Gemini/GeminiLiveCodec.swift has the messages). Everything runs on the
// call's event loop, like the other network agents:
//
//   caller audio   the session's agent side is 24 kHz PCM16 (the rate the model speaks); caller
//                  audio is resampled to the 16 kHz the API takes and sent as realtimeInput
//                  once setupComplete has come (held, bounded, before that and while
//                  disconnected)
//   model audio    serverContent audio → session.agent.writeDownlink as it arrives, with
//                  back-pressure; one model turn is one item, ended by turnComplete
//   turns          the model's activity detection (default), or ours (`--turn-detection local`:
//                  activityStart / activityEnd from the session's speech events)
//   barge-in       the model's `interrupted` cuts playout at once; ours cuts it locally and the
//                  rest of the turn is discarded until the model's interrupted or turnComplete.
//                  The protocol has no place for the heard position
//   tools          toolCall → CallTools → toolResponse; end_call / transfer_call answered at
//                  once, carried out once the goodbye turn after them has been heard
//   key presses    gathered and given as realtimeInput text
//   goAway         the server will close soon: a new connection is made at once with the latest
//                  session resumption handle (the server restores the conversation), and audio
//                  already received keeps playing; a drop does the same after a backoff
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import NIOCore

public final class GeminiLiveAgent: AgentTransport, CallControlled {
    private let live = LiveObject(.agent)
    let configuration: GeminiLiveAgentConfiguration
    let eventLoop: any EventLoop
    let logger: Logger
    private var session: Session?
    private var connection: WebSocketClient?
    private var connected = false
    /// setupComplete has come on this connection: audio may flow.
    private var ready = false
    private var closed = false
    private var backoff = ReconnectBackoff()
    private var reconnect: Scheduled<Void>?
    private let fallback: AgentFallback
    private var transcript: ConversationTranscript
    private let callTools: CallTools
    private var keyPresses: CallerKeyPresses!
    weak var callControl: CallControl?
    private var connectionNumber = 0
    private var resumptionHandle: String?
    /// 24 kHz session audio → 16 kHz for the API.
    private var uplinkResampler: Resampler?

    private var downlink = DownlinkQueue()
    private var splitByte: UInt8?
    private var item = AgentFallback.firstNetworkItem
    private var itemHasAudio = false
    private var discardingCutTurn = false
    /// end_call / transfer_call: carried out once the goodbye after them has been heard.
    private let callAction: CallActionAfterGoodbye
    /// 16 kHz caller audio held until the connection is ready.
    private var uplinkBacklog = UplinkBacklog()

    public private(set) var statistics = Statistics()
    public struct Statistics: Sendable, Equatable {
        public var connects = 0
        public var audioBytesReceived = 0
        public var staleBytesDiscarded = 0
        public var providerBargeIns = 0
        public var toolCalls = 0
        public var goAways = 0
        public var droppedUplinkBytes = 0
        public var emptyMessages = 0
        public var protocolErrors = 0
    }

    public init(configuration: GeminiLiveAgentConfiguration, eventLoop: any EventLoop, logger: Logger = Logger(label: "audiobridge.gemini")) {
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

    private static let inputBytesPerMillisecond = GeminiLiveAgentConfiguration.inputSampleRate / 1000 * 2
    private static let outputBytesPerMillisecond = GeminiLiveAgentConfiguration.outputSampleRate / 1000 * 2

    // MARK: AgentTransport (engine calls, on the event loop)

    public func attached(to session: Session) {
        self.session = session
        uplinkResampler = try? Resampler(inputRate: GeminiLiveAgentConfiguration.outputSampleRate, outputRate: GeminiLiveAgentConfiguration.inputSampleRate)
        connect()
    }

    public func send(uplink audio: UnsafeRawBufferPointer) -> Int32 {
        let pcm16k = resampled(audio)
        guard !pcm16k.isEmpty else { return 0 }
        if ready, let connection {
            connection.send(GeminiLiveCodec.encode(.audio(pcm16k, sampleRate: GeminiLiveAgentConfiguration.inputSampleRate)))
            return 0
        }
        let dropped = pcm16k.withUnsafeBytes { uplinkBacklog.append($0, limit: configuration.maximumBufferedUplinkMilliseconds * Self.inputBytesPerMillisecond) }
        if dropped > 0 {
            statistics.droppedUplinkBytes += dropped
            session?.agent.report(SessionEvent(kind: .uplinkOverflow, count: UInt64(dropped / 2)))
        }
        return 0
    }

    /// 24 kHz PCM16 → 16 kHz PCM16 (the resampler keeps its state across calls; output sized
    /// so that one call takes all the input).
    private func resampled(_ audio: UnsafeRawBufferPointer) -> [UInt8] {
        guard let uplinkResampler else { return [] }
        let input = audio.bindMemory(to: Int16.self)
        var output = [Int16](repeating: 0, count: uplinkResampler.maximumOutputCount(forInputCount: input.count))
        let produced = output.withUnsafeMutableBufferPointer { uplinkResampler.process(input, into: $0).produced }
        return output[..<produced].withUnsafeBytes { Array($0) }
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
        case .speechStarted where !configuration.setup.automaticActivityDetection && ready:
            connection?.send(GeminiLiveCodec.encode(.activityStart))
        case .speechStopped where !configuration.setup.automaticActivityDetection && ready:
            connection?.send(GeminiLiveCodec.encode(.activityEnd))
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
        callAction.cancel()
        connection?.close()
        connection = nil
        connected = false
        ready = false
        fallback.close()
    }

    // MARK: Connection

    private func connect() {
        guard !closed, let url = ServerURL.webSocket(configuration.url) else {
            if !closed { logger.error("bad Gemini URL", metadata: ["url": "\(configuration.url)"]) }
            return
        }
        var headers: [(String, String)] = configuration.apiKey.isEmpty ? [] : [("x-goog-api-key", configuration.apiKey)]
        headers += configuration.headers
        connectionNumber += 1
        connection = WebSocketClient.connect(url: url, headers: headers, additionalTrustRootsPEM: configuration.additionalTrustRootsPEM,
                                             maximumMessageBytes: configuration.maximumMessageBytes, eventLoop: eventLoop,
                                             timeout: .seconds(configuration.connectTimeoutSeconds), delegate: self)
    }

    private func setup() -> GeminiLiveSetup {
        var setup = configuration.setup
        if !configuration.callMetadata.isEmpty {
            let description = configuration.callMetadata.map { "\($0.0)=\($0.1)" }.joined(separator: ", ")
            setup.systemInstruction += (setup.systemInstruction.isEmpty ? "" : "\n\n") + "This phone call: \(description)."
        }
        setup.functions = callTools.definitions(abilities: callControl?.abilities)
        setup.resumptionHandle = resumptionHandle
        // Without a handle the server starts afresh: tell it what was said.
        if resumptionHandle == nil, connectionNumber > 1, !transcript.turns.isEmpty {
            let lines = transcript.turns.map { ($0.speaker == .caller ? "Caller: " : "You: ") + $0.text }
            setup.systemInstruction += "\n\nThe connection was restored. The conversation so far:\n" + lines.joined(separator: "\n")
        }
        return setup
    }

    private func protocolError(_ reason: String) {
        statistics.protocolErrors += 1
        session?.agent.report(SessionEvent(kind: .transportError, code: AudioBridgeError.protocolViolation.code))
        logger.warning("Gemini protocol error: \(reason)")
    }

    // MARK: Audio and barge-in

    private func received(audio: [UInt8]) {
        guard !discardingCutTurn else {
            statistics.staleBytesDiscarded += audio.count
            return
        }
        statistics.audioBytesReceived += audio.count
        var bytes: [UInt8] = []
        bytes.reserveCapacity(audio.count + 1)
        if let splitByte { bytes.append(splitByte) }
        bytes += audio
        splitByte = bytes.count % 2 == 1 ? bytes.removeLast() : nil
        guard !bytes.isEmpty else { return }
        downlink.append(item: item, bytes)
        itemHasAudio = true
        drainDownlink()
    }

    private func endTurn() {
        if itemHasAudio {
            downlink.end(item: item)
            item &+= 1
            itemHasAudio = false
        }
        splitByte = nil
        discardingCutTurn = false
        drainDownlink()
    }

    private func callerInterrupted(_ event: SessionEvent) {
        downlink.removeAll()
        splitByte = nil
        if itemHasAudio || event.item == item {
            discardingCutTurn = true
            item &+= 1
            itemHasAudio = false
        }
    }

    /// The model heard the caller and stopped: cut whatever is playing or queued.
    private func modelInterrupted() {
        guard let session else { return }
        statistics.providerBargeIns += 1
        let playing = !downlink.isEmpty || itemHasAudio || session.agent.queuedPlayoutSamples() > 0
        downlink.removeAll()
        splitByte = nil
        if itemHasAudio {
            item &+= 1
            itemHasAudio = false
        }
        discardingCutTurn = false
        if playing { _ = session.interrupt() }
    }

    private func drainDownlink() {
        guard let session, fallback.allowsNetworkAudio(session) else { return }
        let limit = configuration.maximumQueuedDownlinkMilliseconds * Self.outputBytesPerMillisecond
        connection?.pauseReading(!downlink.drain(into: session) && downlink.byteCount > limit)
    }

    // MARK: Tools and key presses

    private func called(_ call: GeminiFunctionCall) {
        statistics.toolCalls += 1
        let connectionAtCall = connectionNumber
        callAction.toolCalled(callTools, name: call.name, arguments: call.arguments, control: callControl,
                              answer: { [weak self] output in self?.answer(call, output: output, connection: connectionAtCall) },
                              goodbyeStarted: { [weak self] in self?.itemHasAudio ?? false })
    }

    private func answer(_ call: GeminiFunctionCall, output: String, connection number: Int) {
        guard ready, let connection, connectionNumber == number else {
            logger.info("tool result dropped with its connection", metadata: ["id": "\(call.id)"])
            return
        }
        connection.send(GeminiLiveCodec.encode(.toolResponse(id: call.id, name: call.name, response: output)))
    }

    private func giveKeys(_ keys: String) {
        guard ready, let connection else { return }
        transcript.add(.caller, "[keys pressed: \(keys)]")
        connection.send(GeminiLiveCodec.encode(.text("[The caller pressed the phone keys: \(keys)]")))
    }

    /// goAway: a new connection now, with the latest handle; this one is let go.
    private func moveToNewConnection() {
        statistics.goAways += 1
        let old = connection
        webSocketClosed(cause: "goAway", reconnectAt: 0)
        old?.abandon()
    }
}

extension GeminiLiveAgent: WebSocketClientDelegate {
    func webSocketOpened() {
        connected = true
        ready = false
        backoff.reset()
        statistics.connects += 1
        discardingCutTurn = false
        connection?.send(GeminiLiveCodec.encode(.setup(setup())))
        fallback.connected(session)
        session?.agent.report(SessionEvent(kind: .transportConnected))
        logger.info("Gemini connected")
    }

    func webSocketReceived(binary: ByteBuffer) {
        // The API answers in text frames; a binary frame holding JSON is read the same way.
        webSocketReceived(text: Array(buffer: binary))
    }

    func webSocketReceived(text: [UInt8]) {
        let message: GeminiLiveServerMessage
        do {
            message = try GeminiLiveCodec.decode(text)
        } catch {
            protocolError("unreadable message: \(error)")
            return
        }
        if message.isEmpty { statistics.emptyMessages += 1 }
        if message.setupComplete, !ready {
            ready = true
            let held = uplinkBacklog.take()
            if !held.isEmpty {
                connection?.send(GeminiLiveCodec.encode(.audio(held, sampleRate: GeminiLiveAgentConfiguration.inputSampleRate)))
            }
        }
        if let handle = message.resumptionHandle { resumptionHandle = handle }
        if message.interrupted { modelInterrupted() }
        if !message.audio.isEmpty { received(audio: message.audio) }
        if let text = message.inputTranscription { transcript.add(.caller, text) }
        if let text = message.outputTranscription { transcript.add(.agent, text, item: String(item)) }
        if message.turnComplete {
            endTurn()
            callAction.goodbyeEnded()
        }
        for call in message.functionCalls { called(call) }
        if message.goAway != nil { moveToNewConnection() }
    }

    func webSocketProtocolError(_ error: Error) { protocolError("\(error)") }

    func webSocketClosed(cause: String) { webSocketClosed(cause: cause, reconnectAt: nil) }

    /// `reconnectAt`: milliseconds until the next connection, or nil for the backoff's delay.
    private func webSocketClosed(cause: String, reconnectAt: Int64?) {
        let wasConnected = connected
        connected = false
        ready = false
        connection = nil
        // What arrived keeps playing: the current turn ends where its audio does.
        if itemHasAudio {
            downlink.end(item: item)
            item &+= 1
            itemHasAudio = false
        }
        splitByte = nil
        discardingCutTurn = false
        fallback.connectionEnded()
        guard !closed else { return }
        if wasConnected, reconnectAt == nil { session?.agent.report(SessionEvent(kind: .transportDisconnected)) }
        let delay = reconnectAt ?? backoff.nextDelay(minimum: configuration.reconnectMinimumMilliseconds, maximum: configuration.reconnectMaximumMilliseconds)
        logger.warning(wasConnected ? "Gemini connection ended; reconnecting" : "Gemini connect failed; retrying",
                       metadata: ["in_ms": "\(delay)", "cause": "\(cause)"])
        reconnect = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) { [weak self] in self?.connect() }
    }
}
