// SPDX-License-Identifier: MIT
// One FreeSWITCH fork connection (mod_audio_fork, jambonz's fork, mod_audio_stream). The first
// message may be the metadata text; the audio's rate and layout come from it (jambonz sends
// sampleRate and mixType), else from the URL (?rate=16000&mix=stereo), else the server default.
// Caller audio is L16 in messages of any length. Agent audio goes back the flavor's way:
//   jambonz        BINARY L16 every 20 ms while an item plays, a mark after each item
//                  (its "playout" echo confirms it was heard), killAudio + clearMarks on barge-in
//   mod_audio_fork playAudio messages of `playbackChunkMilliseconds`, killAudio on barge-in
//   mod_audio_stream streamAudio messages likewise; its killAudio reaches the controlling
//                  application as a mod_audio_stream::json event (the module has no in-band stop)
// The heard position is the session's own playout count (what has been handed over so far).
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging
import Metrics

final class FreeSWITCHForkCall: MediaWebSocketCall {
    let session: Session
    let flavor: AudioForkFlavor
    let metadata: AudioForkMetadata
    private let audio: L16CallAudio
    private let messages: WebSocketMessageChannel
    private let server: MediaWebSocketServer
    private let logger: Logger
    private var outbound: [Int16]
    private var gate = PlayoutGate()
    /// File-based flavors: agent audio (L16 bytes at the call's rate) waiting to be sent.
    private var chunk: [UInt8] = []
    private let chunkBytes: Int
    private var marks = PendingMarks()
    var frameProcessingTimer: Metrics.Timer { server.metrics.frameProcessing }

    init(first: WebSocketMessage, subprotocol: String?, uri: String, messages: WebSocketMessageChannel, server: MediaWebSocketServer, engine: Engine) throws {
        guard let flavor = AudioForkFlavor(subprotocol: subprotocol) else { throw MediaWebSocketViolation.unsupportedFormat(subprotocol ?? "") }
        self.flavor = flavor
        if case .text(let text) = first {
            metadata = AudioForkMetadata.parse(text)
        } else {
            metadata = AudioForkMetadata(text: "")
        }
        let query = Self.query(uri)
        let rate = metadata.sampleRate ?? query["rate"].flatMap { Int($0) } ?? server.configuration.defaultSampleRate
        let mix = metadata.mix ?? query["mix"].flatMap { AudioForkMix(rawValue: $0) } ?? .mono
        guard [8000, 16_000, 24_000, 32_000, 48_000].contains(rate) else { throw MediaWebSocketViolation.unsupportedSampleRate(rate) }
        self.messages = messages
        self.server = server
        var logger = server.logger
        logger[metadataKey: "module"] = "\(flavor == .audioStream ? "mod_audio_stream" : flavor.rawValue)"
        self.logger = logger
        var configuration = server.configuration.session
        configuration.phoneCodec = .slin16
        session = try Session(configuration: configuration)
        audio = try L16CallAudio(sampleRate: rate, channels: mix.channels, sessionFrameSamples: session.media.frameSamples, quality: configuration.resamplerQuality)
        outbound = [Int16](repeating: 0, count: session.media.frameSamples)
        chunkBytes = max(1, server.configuration.playbackChunkMilliseconds / 20) * 2 * rate / 50
        try engine.attach(try CallAgent.make(server.configuration.agent, realtime: server.configuration.realtime, pcmStream: server.configuration.pcmStream,
                                              metadata: [("metadata", metadata.text)], eventLoop: messages.channel.eventLoop, logger: logger), to: session)
        logger.info("call started", metadata: ["rate": "\(rate)", "mix": "\(mix)", "compressed": "\(messages.isCompressed)"])
        if case .binary = first { try receive(first) }
    }

    /// The query parameters of a request URI.
    static func query(_ uri: String) -> [String: String] {
        guard let mark = uri.firstIndex(of: "?") else { return [:] }
        var fields: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        return fields
    }

    func receive(_ message: WebSocketMessage) throws {
        switch message {
        case .binary(let bytes):
            audio.append(bytes, feedFrame)
        case .text(let text):
            switch try AudioForkCodec.decode(text) {
            case .dtmf(let digit):
                try? session.media.callerPressed(digit: digit)
            case .mark(let name, let played):
                guard let finished = marks.confirm(name) else { return }
                if played {
                    server.count { $0.marksConfirmed += 1 }
                    server.eventObserver?(finished)
                }
            case .unknown:
                break
            }
        }
    }

    private func feedFrame(_ frame: UnsafeRawBufferPointer) { server.feed(frame, to: session, logger: logger) }

    /// The pacer's 20 ms tick.
    func sendFrame() {
        guard messages.channel.isActive else { return }
        let written = (try? outbound.withUnsafeMutableBytes { try session.media.readCaller(into: $0) }) ?? 0
        let tick = gate.tick(session)
        if tick.send, written > 0 {
            var bytes: [UInt8] = []
            outbound.withUnsafeBufferPointer { audio.appendDownlink($0, to: &bytes) }
            if flavor == .jambonz {
                messages.send(binary: bytes)
            } else {
                chunk += bytes
                // A pause hands over what precedes it at once, and nothing more until it resumes.
                if chunk.count >= chunkBytes || tick.pausing { flushChunk() }
            }
            server.count { $0.framesOut += 1 }
        }
        if let cut = tick.cut {
            chunk.removeAll(keepingCapacity: true)
            marks.removeAll()
            messages.send(text: AudioForkCodec.encode(.killAudio))
            // jambonz reports the marks killAudio dropped as "cleared"; none of ours is pending after this.
            if flavor == .jambonz { messages.send(text: AudioForkCodec.encode(.clearMarks)) }
            server.report(bargeIn: cut, logger: logger)
        }
        for finished in tick.finished {
            if flavor == .jambonz {
                messages.send(text: AudioForkCodec.encode(.mark(name: marks.add(finished))))
                server.count { $0.marksSent += 1 }
            } else {
                flushChunk()
                server.eventObserver?(finished)
            }
        }
        server.report(tick.others, logger: logger)
    }

    private func flushChunk() {
        guard !chunk.isEmpty else { return }
        let message: AudioForkOutbound = flavor == .audioStream
            ? .streamAudio(sampleRate: audio.sampleRate, pcm16LittleEndian: chunk)
            : .playAudio(sampleRate: audio.sampleRate, pcm16LittleEndian: chunk)
        messages.send(text: AudioForkCodec.encode(message))
        chunk.removeAll(keepingCapacity: true)
    }
}
