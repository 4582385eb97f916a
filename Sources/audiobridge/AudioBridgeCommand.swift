// SPDX-License-Identifier: MIT
// `audiobridge`: the bridge server and its tools.
//   audiobridge serve --audiosocket 127.0.0.1:9092 --agent echo
//   audiobridge call --audiosocket 127.0.0.1:9092 --play in.wav --record out.wav --dtmf 12
//   audiobridge load --audiosocket 127.0.0.1:9092 --calls 200 --seconds 20
import ArgumentParser
import AudioBridgeProtocols
import AudioBridgeRTP
import AudioBridgeServer
import AudioBridgeSession
import AudioBridgeTransports
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix

@main
struct AudioBridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audiobridge",
        abstract: "Connects phone calls to AI voice agents in real time.",
        subcommands: [Serve.self, Call.self, Dial.self, Load.self, Vad.self]
    )
}

/// "HOST:PORT" (IPv6 as "[addr]:port").
struct HostPort: ExpressibleByArgument {
    var host: String
    var port: Int

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the bridge server (Asterisk AudioSocket).")

    @Option(help: "Where Asterisk connects (AudioSocket(uuid,HOST:PORT)).")
    var audiosocket = HostPort(argument: "127.0.0.1:9092")!

    @Option(help: "Also serve Twilio on HOST:PORT: the voice webhooks (\(TwilioServer.voicePath), \(TwilioServer.outboundPath)?purpose=…) and the Media Streams WebSocket (\(TwilioServer.mediaPath)).")
    var twilio: HostPort?

    @Option(help: "The public URL Twilio reaches the --twilio listener at (e.g. https://bridge.example.com): signatures are checked over it and the stream URL is derived from it. The auth token, when set in TWILIO_AUTH_TOKEN, makes signatures mandatory.")
    var twilioPublicUrl: String?

    @Option(help: "freeswitch: a token the fork modules must present (?token=TOKEN in their URL, or Authorization: Bearer TOKEN); refused with 401/403 before the upgrade. Default: anyone who reaches the port.")
    var freeswitchToken: String?

    @Option(help: "Also serve FreeSWITCH on HOST:PORT: mod_audio_fork (drachtio or jambonz subprotocol) and mod_audio_stream connect here (ws://HOST:PORT/…, ?rate=16000&mix=stereo when the metadata does not say).")
    var freeswitch: HostPort?

    @Option(help: "freeswitch: the audio's rate when neither the metadata nor the URL says (8000 or 16000).")
    var freeswitchRate = 8000

    @Option(help: "Also serve Asterisk's chan_websocket on HOST:PORT (websocket_client.conf: uri = ws://HOST:PORT/…; Dial(WebSocket/<client>/c(ulaw))).")
    var asteriskWs: HostPort?

    @Option(help: "asterisk-ws: USER:PASSWORD that Asterisk must send as HTTP basic auth (websocket_client.conf username/password); refused with 401/403 before the upgrade. Default: anyone who reaches the port.")
    var asteriskWsAuth: String?

    @Option(help: "Also take one call as RTP on HOST:PORT (UDP): Asterisk's externalMedia (UnicastRTP), FreeSWITCH or a SIP trunk's media.")
    var rtp: HostPort?

    @Option(help: "rtp: where to send our RTP (default: back to the source of the media received).")
    var rtpRemote: HostPort?

    @Option(help: "rtp: the call ends after this many seconds without a packet (the next packet starts a new one); sip: a call not on hold is hung up (BYE).")
    var rtpIdleSeconds = 10

    @Option(help: "rtp: the codec, pcmu (PT 0) or pcma (PT 8).")
    var codec = "pcmu"

    @Option(help: "rtp: SRTP (AES_CM_128_HMAC_SHA1_80) with this SDES key, base64 of the 30-byte key and salt ([inline:]KEY[|lifetime]); it protects what we send, and what we receive too unless --srtp-remote-key is given.")
    var srtp: String?

    @Option(help: "rtp: the peer's SDES key, for what we receive.")
    var srtpRemoteKey: String?

    @Flag(help: "rtp: SRTP with the 32-bit tag (AES_CM_128_HMAC_SHA1_32).")
    var srtp32 = false

    @Option(help: "Also take SIP calls on HOST:PORT (UDP and TCP), straight from a SIP trunk or PBX: INVITE with an SDP offer of PCMU or PCMA (telephone-event too), answered at once; BYE either way.")
    var sip: HostPort?

    @Option(help: "sip: also take SIP over TLS, on the --sip port + 1 (5061 for 5060), with this certificate (PEM; needs --sip-tls-key).")
    var sipTlsCert: String?

    @Option(help: "sip: the private key (PEM) of --sip-tls-cert.")
    var sipTlsKey: String?

    @Option(help: "sip: the UDP ports for the calls' RTP, LO-HI (one even port per call).")
    var rtpPorts = "40000-40999"

    @Option(help: "sip: the address our SDP and Contact give when it is not the one --sip listens on (a NAT's public address).")
    var sipExternalIp: String?

    @Option(help: "sip: SDES-SRTP: off (RTP/AVP only), optional (whichever the offer has) or required (RTP/SAVP only).")
    var sipSrtp = "optional"

    @Option(help: "sip: calls to USER (the number called, the Request-URI's user part) get AGENT instead of --agent, with the same options (USER=AGENT; repeatable).")
    var sipRoute: [String] = []

    @Option(help: "sip: callers must authenticate (digest, MD5) as USER with PASSWORD (USER:PASSWORD; repeatable). Without it anyone who reaches the port may call.")
    var sipAuth: [String] = []

    @Option(help: "sip: the digest realm of --sip-auth's challenge.")
    var sipRealm = "audiobridge"

    @Option(help: "sip: calls we place (--api) come from this URI (default: the user agent's own, sip:HOST:PORT).")
    var sipFrom: String?

    @Option(help: "sip: USER:PASSWORD for a trunk's digest challenge of the calls we place.")
    var sipTrunkAuth: String?

    @Option(help: "sip: register this address of record (sip:USER@REGISTRAR) and keep it registered, answering challenges with --sip-trunk-auth.")
    var sipRegister: String?

    @Option(help: "sip: the registration's lifetime asked for, seconds.")
    var sipRegisterSeconds = 300

    @Option(help: "Serve the outbound-call API on HOST:PORT (needs --sip): POST /calls {\"to\":\"sip:…\"} with Authorization: Bearer $AUDIOBRIDGE_API_TOKEN places a call and answers when it is answered or has failed.")
    var api: HostPort?

    @Option(help: "sip: an INVITE header (X-… or P-…, e.g. X-Customer-Id) passed to the agent with the call's metadata (repeatable).")
    var sipHeader: [String] = []

    @Option(help: "sip: ring (180 Ringing) this many ms before answering; the agent starts at the answer, and a CANCEL before it ends the call.")
    var sipRingMs = 0

    @Option(help: "sip: the RFC 4028 session timer offered and accepted, seconds (0: none).")
    var sipSessionExpires = 1800

    @Option(help: "rtp: the jitter buffer's delay bounds, ms.")
    var jitterMinMs = 20

    @Option(help: "rtp: the jitter buffer's delay bounds, ms.")
    var jitterMaxMs = 200

    @Option(help: "The agent for every call: echo, tone[:HZ[:MS]], wav:FILE, openai (the Realtime API; key in OPENAI_API_KEY), azure (the same at an Azure OpenAI deployment: --azure-*), deepgram (the Voice Agent API; key in DEEPGRAM_API_KEY; --deepgram-*), elevenlabs (an ElevenLabs agent; --elevenlabs-*), gemini (the Gemini Live API; key in GEMINI_API_KEY; --gemini-*), or ws://HOST:PORT/PATH (wss:// too): your own server speaking raw PCM16 at --agent-rate with JSON control messages (README: \"Your own model server\").")
    var agent = "echo"

    @Option(help: "openai: the model.")
    var openaiModel = "gpt-realtime"

    @Option(help: "openai: the voice.")
    var openaiVoice = "marin"

    @Option(help: "openai: the instructions (system prompt).")
    var instructions = "You are a helpful voice assistant on a phone call. Keep answers short."

    @Option(help: "openai: another Realtime endpoint (ws:// or wss://), e.g. a local one.")
    var openaiUrl = "wss://api.openai.com/v1/realtime"

    @Flag(help: "openai: speak the beta protocol (OpenAI-Beta: realtime=v1, beta field and event names).")
    var openaiBeta = false

    @Option(help: "azure: the resource's endpoint, https://NAME.openai.azure.com (default: AZURE_OPENAI_ENDPOINT). The key is read from AZURE_OPENAI_API_KEY (sent as an api-key header), or a Microsoft Entra ID token from AZURE_OPENAI_AD_TOKEN (a bearer token). The other openai options apply.")
    var azureEndpoint: String?

    @Option(help: "azure: the realtime model's deployment name (default: AZURE_OPENAI_DEPLOYMENT).")
    var azureDeployment: String?

    @Option(help: "azure: an API version (e.g. 2025-04-01-preview) for the preview path /openai/realtime?api-version=…&deployment=…, which speaks the beta protocol; without it, the GA path /openai/v1/realtime?model=DEPLOYMENT.")
    var azureApiVersion: String?

    @Option(help: "openai, azure, deepgram, elevenlabs and gemini: connect to this WebSocket URL as given instead of the provider's (a gateway, a local stand-in); for openai the same as --openai-url.")
    var agentUrl: String?

    @Option(help: "gemini: the Live model (key in GEMINI_API_KEY, sent as x-goog-api-key). --instructions is the system instruction; --turn-detection local sends activityStart/activityEnd from our detector instead of the model's own detection.")
    var geminiModel = "models/gemini-2.5-flash-native-audio-preview-09-2025"

    @Option(help: "gemini: the voice (a prebuilt voice name, e.g. Puck); the model's default when not given.")
    var geminiVoice: String?

    @Option(help: "elevenlabs: the agent's id (the URL is wss://api.elevenlabs.io/v1/convai/conversation?agent_id=ID; --agent-url for a signed URL or another server). A key in ELEVENLABS_API_KEY goes as an xi-api-key header.")
    var elevenlabsAgentId: String?

    @Option(help: "elevenlabs: the audio format the agent is configured for, both ways: ulaw_8000 (μ-law straight through; μ-law phone sides only), pcm_8000, pcm_16000 or pcm_24000.")
    var elevenlabsFormat = "pcm_16000"

    @Flag(help: "elevenlabs: send --instructions as the agent's prompt override (and no second greeting after a reconnect); the agent's security settings must allow overrides.")
    var elevenlabsOverridePrompt = false

    @Option(help: "deepgram: the language.")
    var deepgramLanguage = "en"

    @Option(help: "deepgram: the speech-to-text model (agent.listen).")
    var deepgramListenModel = "nova-3"

    @Option(help: "deepgram: the LLM provider (agent.think.provider.type), e.g. open_ai, anthropic, google.")
    var deepgramThinkProvider = "open_ai"

    @Option(help: "deepgram: the LLM (agent.think.provider.model). The prompt is --instructions.")
    var deepgramThinkModel = "gpt-4o-mini"

    @Option(help: "deepgram: the text-to-speech voice (agent.speak).")
    var deepgramSpeakModel = "aura-2-thalia-en"

    @Option(help: "deepgram: what the agent says first (not again after a reconnect).")
    var deepgramGreeting: String?

    @Option(help: "openai: who decides turns: server (the model's VAD; its speech_started also cuts playout) or local (our detector; we commit and ask for responses).")
    var turnDetection = "server"

    @Flag(help: "openai: always send PCM16 24 kHz, even when the phone side is G.711.")
    var noG711Passthrough = false

    @Option(help: "openai and ws://: what the caller hears while the agent is unreachable (tone[:HZ[:MS]] or wav:FILE).")
    var fallback = "tone:425:400"

    @Option(help: "openai and ws://: trust the certificates in this PEM file besides the system's (a model server behind a private CA, a self-signed test server).")
    var agentCaFile: String?

    @Option(help: "openai and ws://: one more HTTP header on the agent's WebSocket upgrade, 'Name: value' (repeatable): a gateway's token, Azure's 'api-key: KEY'. With --agent openai and no OPENAI_API_KEY, no Authorization header is sent.")
    var agentHeader: [String] = []

    @Flag(help: "openai: do not offer the model the call-control tools (end_call; transfer_call on Twilio with its REST API; send_dtmf on RTP).")
    var noCallTools = false

    @Option(help: "openai: more tools for the model, a JSON file: [{\"name\":…, \"description\":…, \"parameters\":{JSON Schema}}]. Each call is posted to --tool-webhook and its answer returned to the model.")
    var tools: String?

    @Option(help: "openai: where the --tools calls are posted (http:// or https://), as JSON {call_id, tool, arguments, metadata}; a 2xx answer's body is the tool's result.")
    var toolWebhook: String?

    @Option(help: "openai: how long a tool webhook may take (ms); past it the model is told the tool did not answer.")
    var toolTimeoutMs: Int64 = 8000

    @Option(help: "openai: how the caller's key presses reach the model: text (a user text item, gathered until a second passes without one or '#', and the model is asked to answer), tool (the model calls collect_digits and gets them as its result) or off.")
    var dtmfToModel = "text"

    @Option(help: "twilio: Twilio's REST API, used with TWILIO_AUTH_TOKEN to hang the call up on end_call and to transfer it.")
    var twilioApiUrl = "https://api.twilio.com"

    @Option(help: "openai: the model that transcribes the caller, or 'off'. The transcripts (and the model's own) are what a new connection is given after a drop, so the conversation goes on.")
    var openaiTranscriptionModel = "gpt-4o-mini-transcribe"

    @Option(help: "The agent side's sample rate: 8000, 16000 or 24000 Hz (the rate a ws:// agent speaks). The built-in agents sound the same at any rate, and 8000 needs no resampling.")
    var agentRate = 8000

    @Option(help: "Barge-in: caller speech must last this long (ms) before it cuts the agent.")
    var bargeInMinSpeechMs = SpeechDetectorSettings().minimumSpeechMilliseconds

    @Option(help: "Barge-in: speech ends after this long (ms) without it.")
    var bargeInHangoverMs = SpeechDetectorSettings().hangoverMilliseconds

    @Option(help: "The caller's turn ends after this long (ms) without speech (agents answer then).")
    var endOfTurnMs = SpeechDetectorSettings().endOfTurnMilliseconds

    @Option(help: "Barge-in: speech threshold, dB of band SNR over noise and expected echo.")
    var bargeInThresholdDb = SpeechDetectorSettings().thresholdDecibels

    @Option(help: "Barge-in: added to the threshold while the agent talks, dB (stricter interruptions).")
    var bargeInAgentExtraDb = SpeechDetectorSettings().agentTalkingExtraDecibels

    @OptionGroup var arbitration: BargeInArbitrationOptions

    @Option(help: "Resampler quality, 0–10.")
    var quality = 4

    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics.")
    var metrics: HostPort?

    @Option(help: "Write one stereo WAV per call, of every transport, into this directory (left: caller, right: what the caller heard).")
    var record: String?

    @Option(help: "At most this many calls at once, over all transports; past it each transport refuses in its own way (AudioSocket hang-up, HTTP 503 before a WebSocket upgrade, RTP ignored) and counts it.")
    var maxCalls: Int?

    @Option(help: "On the first SIGTERM/SIGINT: stop accepting calls (/readyz 503), let the running ones end by themselves for up to this many seconds, then hang up the rest. A second signal hangs up at once.")
    var drainSeconds = 30

    @Option(help: "After calls end, give the allocator's free memory back to the system (malloc_trim) at most every this many seconds, off the event loops; 0: never. Without it RSS stays at its high-water mark.")
    var trimMemorySeconds = 10

    @Option(help: "Log lines as text or json (one object per line: time, level, label, message and the call's fields).")
    var logFormat = "text"

    @Flag(help: "Do not let caller speech interrupt the agent.")
    var noBargeIn = false

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(help: "Event-loop threads serving calls (default: one per core).")
    var threads = System.coreCount

    func run() async throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard maxCalls.map({ $0 >= 1 }) ?? true else { throw ValidationError("--max-calls must be at least 1") }
        guard drainSeconds >= 0 else { throw ValidationError("--drain-seconds must be at least 0") }
        guard trimMemorySeconds >= 0 else { throw ValidationError("--trim-memory-seconds must be at least 0") }
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level \(logLevel)") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json") }
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, logLevel: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let call = try callSettings()
        let services = BridgeServices(admission: CallAdmission(maximumCalls: maxCalls))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let trimmer = MemoryTrimmer(interval: .seconds(trimMemorySeconds), endedCalls: { services.admission.endedCalls })
        if trimMemorySeconds > 0 { trimmer.start() }
        defer { trimmer.stop() }

        var configuration = AudioSocketServerConfiguration()
        configuration.host = audiosocket.host
        configuration.port = audiosocket.port
        configuration.call = call
        let server = try AudioSocketServer(configuration: configuration, group: group, services: services)
        let address = try await server.start()
        announce("audiobridge: AudioSocket listening on \(address), agent \(agent) (no authentication: bind it to a private address)")
        var shutdowns: [() async -> Void] = [server.shutdown]
        if let twilio {
            var twilioConfiguration = TwilioServerConfiguration()
            twilioConfiguration.host = twilio.host
            twilioConfiguration.port = twilio.port
            twilioConfiguration.publicURL = twilioPublicUrl
            twilioConfiguration.authToken = ProcessInfo.processInfo.environment["TWILIO_AUTH_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            if let token = twilioConfiguration.authToken {
                var rest = TwilioRESTConfiguration(authToken: token)
                rest.baseURL = twilioApiUrl
                rest.trustRootsPEM = try agentConnection().trustRoots
                twilioConfiguration.restAPI = rest
            }
            twilioConfiguration.call = call
            let server = try TwilioServer(configuration: twilioConfiguration, group: group, services: services)
            let address = try await server.start()
            shutdowns.append(server.shutdown)
            announce("audiobridge: Twilio listening on \(address): voice webhook \(TwilioServer.voicePath), outbound \(TwilioServer.outboundPath)?purpose=…, stream \(TwilioServer.mediaPath)"
                + (twilioConfiguration.authToken == nil ? " (no TWILIO_AUTH_TOKEN: signatures not checked, anyone may start a call)" : " (signatures checked on webhooks and the stream handshake)"))
        }
        if let rtpServer = try await startRTP(group: group, call: call, services: services) {
            shutdowns.append {
                await rtpServer.shutdown()
                let s = rtpServer.statistics
                announce("audiobridge: RTP \(s.packetsReceived) packets in, \(s.packetsSent) out, \(s.cumulativeLost) lost, jitter \(s.jitterMilliseconds) ms, \(s.jitterBuffer.late) late, \(s.jitterBuffer.framesConcealed) frames concealed, \(s.digitsReceived) digits, \(s.refused) refused")
            }
        }
        let sipServer = try startSIP(group: group, call: call, services: services)
        if let sipServer { shutdowns.append { await sipServer.shutdown() } }
        if let api {
            guard let sipServer else { throw ValidationError("--api needs --sip") }
            guard let token = ProcessInfo.processInfo.environment["AUDIOBRIDGE_API_TOKEN"], token.utf8.count >= 16 else {
                throw ValidationError("--api needs AUDIOBRIDGE_API_TOKEN (16 characters or more): the bearer token callers of the API send")
            }
            let channel = try await CallsAPI.start(host: api.host, port: api.port, token: token, sip: sipServer, group: group)
            shutdowns.insert({ try? await channel.close() }, at: 0)
            announce("audiobridge: call API at http://\(api.host):\(channel.localAddress?.port ?? api.port)\(CallsAPI.path) (bearer token required)")
        }
        for (role, listen) in [(MediaWebSocketServerConfiguration.Role.freeSWITCH, freeswitch), (.asterisk, asteriskWs)] {
            guard let listen else { continue }
            var media = MediaWebSocketServerConfiguration()
            media.role = role
            media.host = listen.host
            media.port = listen.port
            media.defaultSampleRate = freeswitchRate
            media.call = call
            media.credential = try credential(for: role)
            let server = try MediaWebSocketServer(configuration: media, group: group, services: services)
            let address = try await server.start()
            shutdowns.append(server.shutdown)
            announce("audiobridge: \(role.rawValue) listening on \(address)" + (media.credential == nil ? " (no authentication)" : " (credential required)"))
        }
        var metricsChannel: Channel?
        if let metrics {
            metricsChannel = try await MetricsEndpoint.start(host: metrics.host, port: metrics.port, services: services, group: group)
            let port = metricsChannel?.localAddress?.port ?? metrics.port
            announce("audiobridge: metrics at http://\(metrics.host):\(port)/metrics, health /healthz, readiness /readyz")
        }
        announce("audiobridge: in Asterisk: same => n,Answer() / same => n,AudioSocket(\(UUID().uuidString.lowercased()),\(audiosocket.host):\(address.port ?? audiosocket.port))")

        let signals = TerminationSignals()
        await signals.next()
        services.admission.startDraining()
        let draining = services.admission.activeCalls
        announce("audiobridge: draining: new calls refused, \(draining) call(s) running; up to \(drainSeconds) s for them to end (another signal hangs up at once)")
        let outcome = await signals.drain(seconds: drainSeconds) { services.admission.activeCalls == 0 }
        let left = services.admission.activeCalls
        announce("audiobridge: " + (left == 0 ? "every call has ended" : "\(outcome == .signal ? "second signal" : "drain time is up"): hanging up \(left) call(s)"))
        for shutdown in shutdowns { await shutdown() }
        // The last calls' recordings are written off the event loops: let them finish (bounded).
        for _ in 0..<100 where CallRecordings.inProgress > 0 { try? await Task.sleep(for: .milliseconds(100)) }
        try? await metricsChannel?.close()
        try await group.shutdownGracefully()
        for transport in PhoneTransport.allCases {
            let c = services.metrics[transport].snapshot
            guard c.totalCalls > 0 || c.refusedCalls > 0 || c.protocolErrors > 0 else { continue }
            announce("audiobridge: \(transport.rawValue): \(c.totalCalls) call(s), \(c.refusedCalls) refused, \(c.framesIn) frames in, \(c.framesOut) out, \(c.bargeIns) barge-ins, \(c.dtmf) digits, \(c.underrunFrames) underrun frames, \(c.protocolErrors) protocol errors")
        }
    }
}

extension Serve {
    /// What every call gets, from the options: agent, session, recording.
    func callSettings() throws -> CallSettings {
        var call = CallSettings()
        call.agent = agent
        call.session.agentFormat = .pcm16(sampleRate: agentRate)
        call.session.resamplerQuality = quality
        call.session.bargeIn.enabled = !noBargeIn
        call.session.bargeIn.detector.minimumSpeechMilliseconds = bargeInMinSpeechMs
        call.session.bargeIn.detector.hangoverMilliseconds = bargeInHangoverMs
        call.session.bargeIn.detector.endOfTurnMilliseconds = endOfTurnMs
        call.session.bargeIn.detector.thresholdDecibels = bargeInThresholdDb
        call.session.bargeIn.detector.agentTalkingExtraDecibels = bargeInAgentExtraDb
        call.session.bargeIn.arbitration = try arbitration.settings()
        call.recordDirectory = record
        call.realtime = try realtimeConfiguration()
        call.deepgram = try deepgramConfiguration()
        call.elevenLabs = try elevenLabsConfiguration()
        call.gemini = try geminiConfiguration()
        call.pcmStream.fallbackAgent = fallback
        let (headers, trustRoots) = try agentConnection()
        call.realtime?.headers += headers
        call.realtime?.additionalTrustRootsPEM = trustRoots
        call.deepgram?.headers += headers
        call.elevenLabs?.headers += headers
        call.gemini?.headers += headers
        call.gemini?.additionalTrustRootsPEM = trustRoots
        call.elevenLabs?.additionalTrustRootsPEM = trustRoots
        call.deepgram?.additionalTrustRootsPEM = trustRoots
        call.pcmStream.headers = headers
        call.pcmStream.additionalTrustRootsPEM = trustRoots
        return call
    }

    /// The credential a media WebSocket listener asks for, from its option.
    func credential(for role: MediaWebSocketServerConfiguration.Role) throws -> MediaWebSocketCredential? {
        switch role {
        case .freeSWITCH:
            guard let token = freeswitchToken else { return nil }
            guard !token.isEmpty else { throw ValidationError("--freeswitch-token is empty") }
            return .token(token)
        case .asterisk:
            guard let auth = asteriskWsAuth else { return nil }
            let parts = auth.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--asterisk-ws-auth is USER:PASSWORD") }
            return .basic(username: String(parts[0]), password: String(parts[1]))
        }
    }

    /// The RTP call when `--rtp` is given: same agent and session settings as the other calls.
    func startRTP(group: any EventLoopGroup, call: CallSettings, services: BridgeServices) async throws -> RTPServer? {
        guard let rtp else {
            guard rtpRemote == nil, srtp == nil, srtpRemoteKey == nil else { throw ValidationError("--rtp-remote and --srtp need --rtp") }
            return nil
        }
        var configuration = RTPServerConfiguration()
        configuration.host = rtp.host
        configuration.port = rtp.port
        configuration.remoteHost = rtpRemote?.host
        configuration.remotePort = rtpRemote?.port
        switch codec {
        case "pcmu": configuration.codec = .ulaw
        case "pcma": configuration.codec = .alaw
        default: throw ValidationError("--codec is pcmu or pcma")
        }
        if let srtp {
            do {
                configuration.srtpSendKey = try SRTPMasterKey(sdes: srtp)
                configuration.srtpReceiveKey = try srtpRemoteKey.map { try SRTPMasterKey(sdes: $0) } ?? configuration.srtpSendKey
            } catch {
                throw ValidationError("--srtp / --srtp-remote-key: \(error) (expected base64 of 30 bytes: key and salt)")
            }
            configuration.srtpProfile = srtp32 ? .aes128CmHmacSha1_32 : .aes128CmHmacSha1_80
        } else if srtpRemoteKey != nil {
            throw ValidationError("--srtp-remote-key needs --srtp")
        }
        configuration.jitterBuffer = JitterBufferSettings(minimumDelayMilliseconds: jitterMinMs, maximumDelayMilliseconds: jitterMaxMs)
        guard configuration.jitterBuffer.isValid else { throw ValidationError("--jitter-min-ms/--jitter-max-ms: 0 ≤ min ≤ max ≤ 1000") }
        guard rtpIdleSeconds >= 1 else { throw ValidationError("--rtp-idle-seconds must be at least 1") }
        configuration.idleTimeoutSeconds = Int64(rtpIdleSeconds)
        configuration.call = call
        let rtpServer = try RTPServer(configuration: configuration, group: group, services: services)
        let address = try await rtpServer.start()
        announce("audiobridge: RTP listening on \(address) (\(codec)\(srtp == nil ? "" : ", SRTP")), sending to \(rtpRemote.map { "\($0.host):\($0.port)" } ?? "the media's source")")
        return rtpServer
    }

    /// The SIP server when `--sip` is given: same agent and session settings as the other calls.
    func startSIP(group: any EventLoopGroup, call: CallSettings, services: BridgeServices) throws -> SIPServer? {
        guard let sip else {
            guard sipExternalIp == nil, sipRoute.isEmpty, sipTlsCert == nil, sipTlsKey == nil else {
                throw ValidationError("--sip-external-ip, --sip-route and --sip-tls-cert/--sip-tls-key need --sip")
            }
            return nil
        }
        var configuration = SIPServerConfiguration()
        configuration.host = sip.host
        configuration.port = sip.port
        configuration.externalAddress = sipExternalIp
        switch (sipTlsCert, sipTlsKey) {
        case (nil, nil): break
        case let (certificate?, key?):
            guard sip.port < 65_535 else { throw ValidationError("--sip-tls-cert: TLS listens on the --sip port + 1, so that port must be below 65535") }
            configuration.tls = (certificate, key)
        default: throw ValidationError("--sip-tls-cert and --sip-tls-key go together")
        }
        let bounds = rtpPorts.split(separator: "-").compactMap { Int($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1], (1024...65_535).contains(bounds[0]), bounds[1] <= 65_535 else {
            throw ValidationError("--rtp-ports is LO-HI, 1024 ≤ LO ≤ HI ≤ 65535")
        }
        configuration.rtpPorts = bounds[0]...bounds[1]
        guard let srtp = SRTPPolicy(rawValue: sipSrtp) else { throw ValidationError("--sip-srtp is off, optional or required") }
        configuration.srtp = srtp
        guard (0...86_400).contains(sipSessionExpires), sipSessionExpires == 0 || sipSessionExpires >= 90 else {
            throw ValidationError("--sip-session-expires is 0 or 90-86400 seconds (RFC 4028's minimum is 90)")
        }
        configuration.sessionExpires = UInt32(sipSessionExpires)
        guard (0...60_000).contains(sipRingMs) else { throw ValidationError("--sip-ring-ms is 0-60000") }
        configuration.ringMilliseconds = sipRingMs
        if ["0.0.0.0", "::"].contains(sip.host), sipExternalIp == nil {
            throw ValidationError("--sip on a wildcard address needs --sip-external-ip: the address our SDP gives for the media")
        }
        configuration.jitterBuffer = JitterBufferSettings(minimumDelayMilliseconds: jitterMinMs, maximumDelayMilliseconds: jitterMaxMs)
        guard configuration.jitterBuffer.isValid else { throw ValidationError("--jitter-min-ms/--jitter-max-ms: 0 ≤ min ≤ max ≤ 1000") }
        guard rtpIdleSeconds >= 1 else { throw ValidationError("--rtp-idle-seconds must be at least 1") }
        configuration.mediaTimeoutSeconds = Int64(rtpIdleSeconds)
        configuration.call = call
        for credential in sipAuth {
            let parts = credential.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--sip-auth is USER:PASSWORD") }
            configuration.users[String(parts[0])] = String(parts[1])
        }
        guard !sipRealm.isEmpty, !sipRealm.contains("\""), sipRealm.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            throw ValidationError("--sip-realm is printable ASCII without quotes")
        }
        configuration.realm = sipRealm
        configuration.fromURI = sipFrom
        configuration.metadataHeaders = sipHeader
        if let sipRegister {
            guard sipRegister.lowercased().hasPrefix("sip:") || sipRegister.lowercased().hasPrefix("sips:") else {
                throw ValidationError("--sip-register is a sip: URI (sip:USER@REGISTRAR)")
            }
            guard (1...86_400).contains(sipRegisterSeconds) else { throw ValidationError("--sip-register-seconds is 1-86400") }
            configuration.registration = (sipRegister, UInt32(sipRegisterSeconds))
        }
        if let sipTrunkAuth {
            let parts = sipTrunkAuth.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--sip-trunk-auth is USER:PASSWORD") }
            configuration.outboundCredentials = (String(parts[0]), String(parts[1]))
        }
        for route in sipRoute {
            let parts = route.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw ValidationError("--sip-route is USER=AGENT") }
            var routed = self
            routed.agent = String(parts[1])
            configuration.routes[String(parts[0])] = try routed.callSettings()
        }
        let server = try SIPServer(configuration: configuration, group: group, services: services)
        try server.start()
        announce("audiobridge: SIP listening on \(sip.host):\(sip.port) (UDP and TCP\(configuration.tls == nil ? "" : "; TLS on \(configuration.tlsPort)")), RTP ports \(rtpPorts), SRTP \(srtp.rawValue)"
            + (sipAuth.isEmpty ? " (no authentication: anyone who reaches the port may call)" : " (digest authentication of callers)"))
        return server
    }

    /// --agent-header and --agent-ca-file, checked: the headers, and the PEM bytes to trust.
    func agentConnection() throws -> (headers: [(String, String)], trustRoots: [UInt8]?) {
        let headers = try agentHeader.map { text in
            guard let header = AgentConnectionOptions.header(text) else { throw ValidationError("--agent-header '\(text)' is not 'Name: value'") }
            return (header.name, header.value)
        }
        guard let path = agentCaFile else { return (headers, nil) }
        guard let contents = FileManager.default.contents(atPath: path) else { throw ValidationError("--agent-ca-file: cannot read \(path)") }
        do {
            _ = try AgentConnectionOptions.certificateCount(pem: Array(contents))
        } catch {
            throw ValidationError("--agent-ca-file: \(path) holds no PEM certificate (\(error))")
        }
        return (headers, Array(contents))
    }

    /// The Realtime settings when `--agent openai`; nil otherwise. The key is read from the
    /// environment only, so it never shows in `ps` or in logs.
    func realtimeConfiguration() throws -> RealtimeAgentConfiguration? {
        guard agent == "openai" || agent == "azure" else { return nil }
        var realtime = agent == "azure" ? try azureConfiguration() : try openAIConfiguration()
        realtime.settings.voice = openaiVoice
        realtime.settings.instructions = instructions
        realtime.settings.inputTranscriptionModel = openaiTranscriptionModel == "off" ? nil : openaiTranscriptionModel
        realtime.localTurnDetection = try localTurnDetection()
        realtime.allowG711Passthrough = !noG711Passthrough
        realtime.fallbackAgent = fallback
        realtime.tools = try callToolsConfiguration()
        realtime.dtmfToModel = try keyPressesToModel()
        return realtime
    }

    private func keyPressesToModel() throws -> KeyPressesToModel {
        guard let keyPresses = KeyPressesToModel(rawValue: dtmfToModel) else { throw ValidationError("--dtmf-to-model is text, tool or off") }
        return keyPresses
    }

    /// --dtmf-to-model for an agent whose protocol gives the bridge no way to answer a key-press
    /// tool: text or off.
    private func keyPressesAsTextOrOff() throws -> KeyPressesToModel {
        let keyPresses = try keyPressesToModel()
        guard keyPresses != .tool else { throw ValidationError("--agent \(agent) takes --dtmf-to-model text or off") }
        return keyPresses
    }

    /// --turn-detection: true for local (our detector), false for the model's own.
    private func localTurnDetection() throws -> Bool {
        guard ["server", "local"].contains(turnDetection) else { throw ValidationError("--turn-detection is server or local") }
        return turnDetection == "local"
    }

    /// The call-control functions and the --tools webhook, for every model agent.
    private func callToolsConfiguration() throws -> CallToolsConfiguration {
        var configuration = CallToolsConfiguration()
        configuration.callControl = !noCallTools
        configuration.webhookTimeoutMilliseconds = toolTimeoutMs
        if let tools {
            guard let contents = FileManager.default.contents(atPath: tools) else { throw ValidationError("--tools: cannot read \(tools)") }
            do {
                configuration.webhookTools = try CallToolsConfiguration.tools(fromJSON: Array(contents))
            } catch {
                throw ValidationError("--tools: \(tools) is not a list of {name, description, parameters} (\(error))")
            }
            guard toolWebhook != nil else { throw ValidationError("--tools needs --tool-webhook: the bridge posts their calls there") }
        }
        if let toolWebhook {
            guard CallToolsConfiguration.isWebhookURL(toolWebhook) else { throw ValidationError("--tool-webhook is an http:// or https:// URL") }
            configuration.webhookURL = toolWebhook
            configuration.webhookTrustRootsPEM = try agentConnection().trustRoots
        }
        guard toolTimeoutMs >= 1 else { throw ValidationError("--tool-timeout-ms must be at least 1") }
        return configuration
    }

    /// The Gemini Live settings when `--agent gemini`; nil otherwise.
    func geminiConfiguration() throws -> GeminiLiveAgentConfiguration? {
        guard agent == "gemini" else { return nil }
        var gemini = GeminiLiveAgentConfiguration()
        if let agentUrl { gemini.url = agentUrl }
        gemini.apiKey = ProcessInfo.processInfo.environment["GEMINI_API_KEY"] ?? ""
        guard !gemini.apiKey.isEmpty || !gemini.url.hasPrefix("wss://generativelanguage.googleapis.com") else {
            throw ValidationError("--agent gemini needs GEMINI_API_KEY")
        }
        gemini.setup.model = geminiModel
        gemini.setup.voice = geminiVoice
        gemini.setup.systemInstruction = instructions
        gemini.setup.automaticActivityDetection = try !localTurnDetection()
        gemini.fallbackAgent = fallback
        gemini.tools = try callToolsConfiguration()
        gemini.dtmfToModel = try keyPressesAsTextOrOff()
        return gemini
    }

    /// The ElevenLabs settings when `--agent elevenlabs`; nil otherwise.
    func elevenLabsConfiguration() throws -> ElevenLabsAgentConfiguration? {
        guard agent == "elevenlabs" else { return nil }
        var elevenLabs = ElevenLabsAgentConfiguration()
        if let agentUrl {
            elevenLabs.url = agentUrl
        } else if let id = elevenlabsAgentId, !id.isEmpty, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "&") && $0 != UInt8(ascii: "#") }) {
            elevenLabs.url = "wss://api.elevenlabs.io/v1/convai/conversation?agent_id=" + id
        } else {
            throw ValidationError("--agent elevenlabs needs --elevenlabs-agent-id ID (or --agent-url URL)")
        }
        guard ElevenLabsAgentConfiguration.sampleRate(of: elevenlabsFormat) != nil else {
            throw ValidationError("--elevenlabs-format is ulaw_8000, pcm_8000, pcm_16000 or pcm_24000")
        }
        elevenLabs.format = elevenlabsFormat
        elevenLabs.apiKey = ProcessInfo.processInfo.environment["ELEVENLABS_API_KEY"] ?? ""
        elevenLabs.overridePrompt = elevenlabsOverridePrompt
        elevenLabs.prompt = instructions
        elevenLabs.fallbackAgent = fallback
        elevenLabs.tools = try callToolsConfiguration()
        elevenLabs.dtmfToModel = try keyPressesAsTextOrOff()
        return elevenLabs
    }

    /// The Deepgram settings when `--agent deepgram`; nil otherwise. The key is read from
    /// DEEPGRAM_API_KEY only.
    func deepgramConfiguration() throws -> DeepgramAgentConfiguration? {
        guard agent == "deepgram" else { return nil }
        var deepgram = DeepgramAgentConfiguration()
        if let agentUrl { deepgram.url = agentUrl }
        deepgram.apiKey = ProcessInfo.processInfo.environment["DEEPGRAM_API_KEY"] ?? ""
        guard !deepgram.apiKey.isEmpty || !deepgram.url.hasPrefix("wss://agent.deepgram.com") else {
            throw ValidationError("--agent deepgram needs DEEPGRAM_API_KEY")
        }
        deepgram.settings.language = deepgramLanguage
        deepgram.settings.listenModel = deepgramListenModel
        deepgram.settings.thinkProvider = deepgramThinkProvider
        deepgram.settings.thinkModel = deepgramThinkModel
        deepgram.settings.speakModel = deepgramSpeakModel
        deepgram.settings.prompt = instructions
        deepgram.settings.greeting = deepgramGreeting
        deepgram.allowG711Passthrough = !noG711Passthrough
        deepgram.fallbackAgent = fallback
        deepgram.tools = try callToolsConfiguration()
        deepgram.dtmfToModel = try keyPressesAsTextOrOff()
        return deepgram
    }

    private func openAIConfiguration() throws -> RealtimeAgentConfiguration {
        let url = agentUrl ?? openaiUrl
        let key = ProcessInfo.processInfo.environment["OPENAI_API_KEY"] ?? ""
        guard !key.isEmpty || !url.hasPrefix("wss://api.openai.com") else { throw ValidationError("--agent openai needs OPENAI_API_KEY") }
        var realtime = RealtimeAgentConfiguration()
        realtime.url = url
        realtime.apiKey = key
        realtime.version = openaiBeta ? .beta : .ga
        realtime.settings.model = openaiModel
        return realtime
    }

    /// Azure OpenAI: the deployment's URL, its key as an api-key header (or an Entra ID token
    /// as a bearer token), the deployment as the model, and the protocol its path speaks.
    private func azureConfiguration() throws -> RealtimeAgentConfiguration {
        let environment = ProcessInfo.processInfo.environment
        guard let resource = azureEndpoint ?? environment["AZURE_OPENAI_ENDPOINT"], !resource.isEmpty,
              let deployment = azureDeployment ?? environment["AZURE_OPENAI_DEPLOYMENT"], !deployment.isEmpty else {
            throw ValidationError("--agent azure needs --azure-endpoint (or AZURE_OPENAI_ENDPOINT) and --azure-deployment (or AZURE_OPENAI_DEPLOYMENT)")
        }
        let endpoint = AzureRealtimeEndpoint(resource: resource, deployment: deployment, apiVersion: azureApiVersion)
        guard let url = endpoint.url else {
            throw ValidationError("--azure-endpoint is an https:// URL (no query), and the deployment and API version are plain names (letters, digits, '.', '_', '-')")
        }
        guard let authorization = AzureRealtimeEndpoint.authorization(apiKey: environment["AZURE_OPENAI_API_KEY"] ?? "",
                                                                      bearerToken: environment["AZURE_OPENAI_AD_TOKEN"] ?? "") else {
            throw ValidationError("--agent azure needs AZURE_OPENAI_API_KEY or AZURE_OPENAI_AD_TOKEN")
        }
        var realtime = RealtimeAgentConfiguration()
        realtime.url = agentUrl ?? url
        realtime.headers = [authorization]
        realtime.version = openaiBeta ? .beta : endpoint.protocolVersion
        realtime.settings.model = deployment
        return realtime
    }
}

/// A status line, written at once: a supervisor or test reading a pipe sees the listening
/// addresses without waiting for stdio's block buffer.
func announce(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Place a call to an AudioSocket server, as Asterisk would.")

    @Option(help: "The server's HOST:PORT.")
    var audiosocket = HostPort(argument: "127.0.0.1:9092")!

    @Option(help: "What the caller says: a mono WAV (PCM16, μ-law or A-law) at 8 kHz, or at another AudioSocket rate (12, 16, 24, 32, 44.1, 48, 96, 192 kHz) to call with kinds 0x11–0x18.")
    var play: String

    @Option(help: "Where to write what the caller heard (PCM16 WAV at the call's rate).")
    var record: String?

    @Option(help: "DTMF digits to press, one per second after the start.")
    var dtmf = ""

    @Option(help: "Seconds to stay on the line after the recording ends.")
    var linger = 5

    func run() async throws {
        let file = try WavFile(contentsOf: play)
        guard AudioSocketMessage.audioKinds.contains(where: { $0.sampleRate == file.sampleRate }) else {
            throw ValidationError("\(play): \(file.sampleRate) Hz is not an AudioSocket rate")
        }
        var digits: [Int: UInt8] = [:]
        for (index, digit) in dtmf.utf8.enumerated() { digits[50 * (index + 1)] = digit }
        let uuid = AudioSocketUUID.random()
        let script = AudioSocketCallScript(uuid: uuid, caller: file.samples, totalFrames: file.samples.count / (file.sampleRate / 50) + 50 * linger,
                                           dtmf: digits, sampleRate: file.sampleRate)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        print("call \(uuid) → \(audiosocket.host):\(audiosocket.port): \(script.totalFrames) frames")
        let result = try await AudioSocketClient.run(host: audiosocket.host, port: audiosocket.port, script: script, group: group)
        try await group.shutdownGracefully()
        print("received \(result.framesReceived) frames\(result.hungUpByServer ? ", server hung up" : "")")
        if let record {
            let bytes = WavFile(sampleRate: file.sampleRate, samples: result.received).encoded()
            guard FileManager.default.createFile(atPath: record, contents: Data(bytes)) else { throw ValidationError("cannot write \(record)") }
            print("wrote \(record)")
        }
    }
}

struct Dial: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Have a running server (serve --sip --api) place a SIP call and bridge it to its agent.")

    @Argument(help: "Whom to call: a sip: or sips: URI.")
    var target: String

    @Option(help: "The server's call API (serve --api), http://HOST:PORT.")
    var api = "http://127.0.0.1:8090"

    @Option(help: "Seconds to wait for the call to be answered or fail.")
    var timeout: Int64 = 70

    func run() async throws {
        guard let token = ProcessInfo.processInfo.environment["AUDIOBRIDGE_API_TOKEN"] else { throw ValidationError("set AUDIOBRIDGE_API_TOKEN to the server's token") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let answer: (status: UInt, body: String)
        do {
            answer = try await CallsAPI.dial(target, api: api, token: token, timeoutSeconds: timeout, group: group)
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        let (status, body) = answer
        print(body, terminator: "")
        if status != 200 { throw ExitCode(1) }
    }
}

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run many concurrent Asterisk-like calls against an AudioSocket server and report what the callers got.",
        discussion: "Every call connects (spread over --ramp seconds), sends its UUID, then talks in bursts (300 ms on, 700 ms off) in 20 ms frames for --seconds, and closes. Prints calls completed, frames received and the received-frame gap percentiles; with --server-pid, also the server's CPU over the run (Linux). scripts/capacity.sh runs it next to asload.")

    @Option(help: "The server's HOST:PORT.")
    var audiosocket = HostPort(argument: "127.0.0.1:9092")!

    @Option(help: "Concurrent calls.")
    var calls = 100

    @Option(help: "Length of every call, in seconds.")
    var seconds = 20

    @Option(help: "Spread the connects over this many seconds.")
    var ramp = 3.0

    @Option(help: "Event-loop threads for the callers.")
    var threads = 1

    @Option(help: "The server's process id, to report its CPU time over the run.")
    var serverPid: Int32?

    @Option(help: "Call a chan_websocket server (serve --asterisk-ws) at HOST:PORT instead, as Asterisk channels that listen: MEDIA_START, then silent μ-law frames; give the server an agent that talks all the time (--agent wav:LONG.wav) and the received-frame gaps are its pacing.")
    var asteriskWs: HostPort?

    func run() async throws {
        guard calls >= 1, seconds >= 1, threads >= 1, ramp >= 0 else { throw ValidationError("--calls, --seconds and --threads must be at least 1, --ramp at least 0") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let cpuBefore = serverPid.flatMap(processCPUSeconds)
        let started = Date()
        let report = if let asteriskWs {
            await ChanWebSocketLoad.run(host: asteriskWs.host, port: asteriskWs.port, calls: calls, seconds: seconds, rampSeconds: ramp, group: group)
        } else {
            await AudioSocketLoad.run(host: audiosocket.host, port: audiosocket.port, calls: calls, seconds: seconds, rampSeconds: ramp, group: group)
        }
        let wall = Date().timeIntervalSince(started)
        try await group.shutdownGracefully()
        print("audiobridge load: \(calls) calls × \(seconds) s: \(report.summary)")
        if let pid = serverPid, let before = cpuBefore, let after = processCPUSeconds(pid) {
            print("audiobridge load: server CPU \(Int(((after - before) / wall * 100).rounded()))% of one core over \(Int(wall.rounded())) s")
        }
    }
}

/// User plus system CPU seconds of a process, from /proc/PID/stat (Linux); nil elsewhere.
func processCPUSeconds(_ pid: Int32) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
