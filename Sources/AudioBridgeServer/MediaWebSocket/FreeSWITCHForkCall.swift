// SPDX-License-Identifier: MIT
// One FreeSWITCH fork connection (mod_audio_fork, jambonz's fork, mod_audio_stream): the adapter
// between the forks' control messages (pure codec in AudioBridgeProtocols) and the call pipeline.
// The first message may be the metadata text; the audio's rate and layout come from it (jambonz
// sends sampleRate and mixType), else from the URL (?rate=16000&mix=stereo), else the server
// default. Caller audio is L16 in messages of any length. Agent audio goes back the flavor's way:
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

final class FreeSWITCHForkSide: PhoneSide {
    let flavor: AudioForkFlavor
    let metadata: AudioForkMetadata
    let mix: AudioForkMix
    let sessionConfiguration: SessionConfiguration
    private let audio: PCM16CallAudio
    private let messages: WebSocketMessageChannel
    private let frame: UnsafeMutableRawBufferPointer
    private let downlinkFrame: UnsafeMutableRawBufferPointer
    /// File-based flavors: agent audio (L16 bytes at the call's rate) waiting to be sent; its
    /// storage is reserved for one chunk, so only the chunk's message itself allocates.
    private var chunk: [UInt8] = []
    private let chunkBytes: Int

    init(first: WebSocketMessage, subprotocol: String?, uri: String, messages: WebSocketMessageChannel,
         defaultSampleRate: Int, playbackChunkMilliseconds: Int, session base: SessionConfiguration) throws {
        guard let flavor = AudioForkFlavor(subprotocol: subprotocol) else { throw MediaWebSocketViolation.unsupportedFormat(subprotocol ?? "") }
        self.flavor = flavor
        if case .text(let text) = first {
            metadata = AudioForkMetadata.parse(text)
        } else {
            metadata = AudioForkMetadata(text: "")
        }
        let query = MediaWebSocketServer.query(uri)
        let rate = metadata.sampleRate ?? query["rate"].flatMap { Int($0) } ?? defaultSampleRate
        mix = metadata.mix ?? query["mix"].flatMap { AudioForkMix(rawValue: $0) } ?? .mono
        guard [8000, 16_000, 24_000, 32_000, 48_000].contains(rate) else { throw MediaWebSocketViolation.unsupportedSampleRate(rate) }
        self.messages = messages
        var configuration = base
        configuration.phoneCodec = .slin16
        sessionConfiguration = configuration
        audio = try PCM16CallAudio(sampleRate: rate, channels: mix.channels, sessionFrameSamples: configuration.frameSamples, quality: configuration.resamplerQuality)
        frame = .allocate(byteCount: configuration.frameBytes, alignment: 16)
        downlinkFrame = .allocate(byteCount: audio.maximumDownlinkBytes, alignment: 16)
        chunkBytes = max(1, playbackChunkMilliseconds / 20) * 2 * rate / 50
        chunk.reserveCapacity(chunkBytes + audio.maximumDownlinkBytes)
    }

    deinit {
        frame.deallocate()
        downlinkFrame.deallocate()
    }

    var sampleRate: Int { audio.sampleRate }

    func receive(_ message: WebSocketMessage, into call: CallPipeline) throws {
        switch message {
        case .binary(let bytes):
            bytes.withUnsafeBytes { audio.append($0, into: call) }
        case .text(let text):
            switch try AudioForkCodec.decode(text) {
            case .dtmf(let digit):
                call.pressed(digit: digit)
            case .mark(let name, let played):
                call.markConfirmed(name, heard: played)
            case .unknown:
                call.ignoredMessage()
            }
        }
    }

    // MARK: PhoneSide

    var isOpen: Bool { messages.channel.isActive }
    var isWritable: Bool { messages.channel.isWritable }
    var sendsSilence: Bool { false }

    func readFrame(for call: CallPipeline) -> UnsafeRawBufferPointer? {
        call.readSessionFrame(into: frame)
    }

    func send(frame: UnsafeRawBufferPointer) {
        let length = audio.downlink(frame, into: downlinkFrame)
        let bytes = UnsafeRawBufferPointer(rebasing: downlinkFrame[..<length])
        if flavor == .jambonz {
            messages.send(binary: bytes)
        } else {
            chunk.append(contentsOf: bytes)
            if chunk.count >= chunkBytes { flushChunk() }
        }
    }

    /// A pause hands over what precedes it at once, and nothing more until it resumes.
    func pausePlayout() { flushChunk() }

    func flush() -> Bool {
        chunk.removeAll(keepingCapacity: true)
        messages.send(text: AudioForkCodec.encode(.killAudio))
        // jambonz reports the marks killAudio dropped as "cleared"; none of ours is pending after this.
        if flavor == .jambonz { messages.send(text: AudioForkCodec.encode(.clearMarks)) }
        return true
    }

    func mark(name: String) -> Bool {
        guard flavor == .jambonz else {
            // The file-based flavors have no marks: the item's audio goes out now, and counts as heard.
            flushChunk()
            return false
        }
        messages.send(text: AudioForkCodec.encode(.mark(name: name)))
        return true
    }

    func hangUp() { messages.close(code: .goingAway) }
    func drop() { messages.channel.close(promise: nil) }

    private func flushChunk() {
        guard !chunk.isEmpty else { return }
        let message: AudioForkOutbound = flavor == .audioStream
            ? .streamAudio(sampleRate: audio.sampleRate, pcm16LittleEndian: chunk)
            : .playAudio(sampleRate: audio.sampleRate, pcm16LittleEndian: chunk)
        messages.send(text: AudioForkCodec.encode(message))
        chunk.removeAll(keepingCapacity: true)
    }
}
