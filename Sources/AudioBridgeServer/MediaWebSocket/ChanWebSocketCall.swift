// SPDX-License-Identifier: MIT
// One Asterisk chan_websocket call: MEDIA_START tells the codec and frame size; caller audio is
// BINARY codec bytes (re-framed to 20 ms); agent audio goes back as one BINARY frame per 20 ms
// while an item plays (Asterisk re-times it and makes its own silence). Each item's end is
// marked (MARK_MEDIA item-N → MEDIA_MARK_PROCESSED when the caller has heard it), a barge-in
// flushes Asterisk's queue (FLUSH_MEDIA; pending marks are dropped by Asterisk), digits come as
// DTMF_END, and MEDIA_XOFF pauses sending — the audio waits in the session — until MEDIA_XON.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import Metrics

final class ChanWebSocketCall: MediaWebSocketCall {
    let session: Session
    let start: ChanWebSocketMediaStart
    let format: ChanWebSocketFormat
    private let messages: WebSocketMessageChannel
    private let server: MediaWebSocketServer
    private let logger: Logger
    /// 8 kHz codecs: caller bytes gathered into session frames.
    private let callerFrames: CallerFrameAssembler?
    /// slin16: 16 kHz L16 to and from 8 kHz.
    private let wideband: L16CallAudio?
    private var outbound: [UInt8]
    private var gate = PlayoutGate()
    private var paused = false
    private var marks = PendingMarks()
    var frameProcessingTimer: Metrics.Timer { server.metrics.frameProcessing }

    init(first text: [UInt8], messages: WebSocketMessageChannel, server: MediaWebSocketServer, engine: Engine) throws {
        format = ChanWebSocketCodec.format(of: text)
        guard case .mediaStart(let start) = try ChanWebSocketCodec.decode(text) else { throw MediaWebSocketViolation.audioBeforeMediaStart }
        self.start = start
        self.messages = messages
        self.server = server
        var logger = server.logger
        logger[metadataKey: "channel"] = "\(start.channel)"
        self.logger = logger
        var configuration = server.configuration.session
        switch start.format {
        case "ulaw": configuration.phoneCodec = .ulaw
        case "alaw": configuration.phoneCodec = .alaw
        case "slin", "slin16": configuration.phoneCodec = .slin16
        default: throw MediaWebSocketViolation.unsupportedFormat(start.format)
        }
        session = try Session(configuration: configuration)
        if start.format == "slin16" {
            wideband = try L16CallAudio(sampleRate: 16_000, channels: 1, sessionFrameSamples: session.media.frameSamples, quality: configuration.resamplerQuality)
            callerFrames = nil
        } else {
            wideband = nil
            callerFrames = CallerFrameAssembler(frameBytes: session.media.frameBytes)
        }
        outbound = [UInt8](repeating: 0, count: session.media.frameBytes)
        try engine.attach(try CallAgent.make(server.configuration.agent, realtime: server.configuration.realtime, pcmStream: server.configuration.pcmStream,
                                              metadata: [("callId", start.channelID), ("channel", start.channel)], eventLoop: messages.channel.eventLoop, logger: logger), to: session)
        // Harmless when Asterisk has answered already (its default); needed with the n option.
        send(.answer)
        logger.info("call started", metadata: ["format": "\(start.format)", "frame": "\(start.optimalFrameSize)", "control": "\(format)"])
    }

    func receive(_ message: WebSocketMessage) throws {
        switch message {
        case .binary(let bytes):
            if let wideband {
                wideband.append(bytes, feedFrame)
            } else {
                bytes.withUnsafeBytes { callerFrames?.append($0, feedFrame) }
            }
        case .text(let text):
            switch try ChanWebSocketCodec.decode(text) {
            case .dtmfEnd(let digit):
                try? session.media.callerPressed(digit: digit)
            case .mediaXoff:
                paused = true
            case .mediaXon:
                paused = false
            case .markProcessed(let id):
                server.count { $0.marksConfirmed += 1 }
                if let id, let finished = marks.confirm(id) { server.eventObserver?(finished) }
            case .error(let text):
                logger.warning("Asterisk reported an error: \(text)")
            case .mediaStart:
                throw MediaWebSocketViolation.unsupportedFormat("a second MEDIA_START")
            case .queueDrained, .bufferingCompleted, .status, .unknown:
                break
            }
        }
    }

    private func feedFrame(_ frame: UnsafeRawBufferPointer) { server.feed(frame, to: session, logger: logger) }

    /// The pacer's 20 ms tick.
    func sendFrame() {
        guard messages.channel.isActive else { return }
        if paused {
            // Asterisk's queue is nearly full: the agent's audio waits in the session.
            server.count { $0.pausedTicks += 1 }
            return
        }
        let written = (try? outbound.withUnsafeMutableBytes { try session.media.readCaller(into: $0) }) ?? 0
        let tick = gate.tick(session)
        if tick.send, written > 0 {
            if let wideband {
                var bytes: [UInt8] = []
                outbound.withUnsafeBytes { wideband.appendDownlink($0.bindMemory(to: Int16.self), to: &bytes) }
                messages.send(binary: bytes)
            } else {
                messages.send(binary: Array(outbound[..<written]))
            }
            server.count { $0.framesOut += 1 }
        }
        if let cut = tick.cut {
            send(.flushMedia)
            server.report(bargeIn: cut, logger: logger)
        }
        for finished in tick.finished {
            send(.markMedia(correlationID: marks.add(finished)))
            server.count { $0.marksSent += 1 }
        }
        server.report(tick.others, logger: logger)
    }

    private func send(_ command: ChanWebSocketCommand) {
        messages.send(text: ChanWebSocketCodec.encode(command, format: format))
    }
}
