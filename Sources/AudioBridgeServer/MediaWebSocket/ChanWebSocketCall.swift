// SPDX-License-Identifier: MIT
// One Asterisk chan_websocket call: the adapter between chan_websocket's control messages (pure
// codec in AudioBridgeProtocols) and the call pipeline. MEDIA_START tells the codec and frame
// size; caller audio is BINARY codec bytes (re-framed to 20 ms); agent audio goes back as one
// BINARY message per 20 ms while an item plays (Asterisk re-times it and makes its own silence).
// Each item's end is marked (MARK_MEDIA item-N → MEDIA_MARK_PROCESSED when the caller has heard
// it), a barge-in flushes Asterisk's queue (FLUSH_MEDIA; Asterisk drops the pending marks),
// digits come as DTMF_END, and MEDIA_XOFF holds our audio — it waits in the session — until
// MEDIA_XON.
import AudioBridgeCore
import AudioBridgeProtocols
import AudioBridgeSession
import AudioBridgeTransports
import Logging

final class ChanWebSocketSide: PhoneSide {
    let start: ChanWebSocketMediaStart
    let format: ChanWebSocketFormat
    let sessionConfiguration: SessionConfiguration
    private let messages: WebSocketMessageChannel
    /// 8 kHz codecs: caller bytes gathered into session frames.
    private let callerFrames: CallerFrameAssembler
    /// slin16: 16 kHz L16 to and from 8 kHz.
    private let wideband: PCM16CallAudio?
    private let frame: UnsafeMutableRawBufferPointer
    private let widebandFrame: UnsafeMutableRawBufferPointer
    private var held = false

    /// The call's side from its MEDIA_START (the first message).
    init(first text: [UInt8], messages: WebSocketMessageChannel, session base: SessionConfiguration) throws {
        format = ChanWebSocketCodec.format(of: text)
        guard case .mediaStart(let start) = try ChanWebSocketCodec.decode(text) else { throw MediaWebSocketViolation.audioBeforeMediaStart }
        self.start = start
        self.messages = messages
        var configuration = base
        switch start.format {
        case "ulaw": configuration.phoneCodec = .ulaw
        case "alaw": configuration.phoneCodec = .alaw
        case "slin", "slin16": configuration.phoneCodec = .slin16
        default: throw MediaWebSocketViolation.unsupportedFormat(start.format)
        }
        sessionConfiguration = configuration
        callerFrames = CallerFrameAssembler(frameBytes: configuration.frameBytes)
        frame = .allocate(byteCount: configuration.frameBytes, alignment: 16)
        if start.format == "slin16" {
            let wideband = try PCM16CallAudio(sampleRate: 16_000, channels: 1, sessionFrameSamples: configuration.frameSamples, quality: configuration.resamplerQuality)
            self.wideband = wideband
            widebandFrame = .allocate(byteCount: wideband.maximumDownlinkBytes, alignment: 16)
        } else {
            wideband = nil
            widebandFrame = .allocate(byteCount: 0, alignment: 16)
        }
    }

    deinit {
        frame.deallocate()
        widebandFrame.deallocate()
    }

    var metadata: [(String, String)] { [("callId", start.channelID), ("channel", start.channel)] }

    /// Harmless when Asterisk has answered already (its default); needed with the n option.
    func answer() { send(.answer) }

    func receive(_ message: WebSocketMessage, into call: CallPipeline) throws {
        switch message {
        case .binary(let bytes):
            bytes.withUnsafeBytes { bytes in
                if let wideband { wideband.append(bytes, into: call) } else { callerFrames.append(bytes, into: call) }
            }
        case .text(let text):
            switch try ChanWebSocketCodec.decode(text) {
            case .dtmfEnd(let digit):
                call.pressed(digit: digit)
            case .mediaXoff:
                held = true
            case .mediaXon:
                held = false
            case .markProcessed(let id):
                if let id { call.markConfirmed(id) }
            case .error(let text):
                call.logger.warning("Asterisk reported an error: \(text)")
            case .mediaStart:
                throw MediaWebSocketViolation.unsupportedFormat("a second MEDIA_START")
            case .queueDrained, .bufferingCompleted, .status:
                break
            case .unknown:
                call.ignoredMessage()
            }
        }
    }

    // MARK: PhoneSide

    var isOpen: Bool { messages.channel.isActive }
    var isWritable: Bool { messages.channel.isWritable }
    var sendsSilence: Bool { false }
    var isHeld: Bool { held }

    func readFrame(for call: CallPipeline) -> UnsafeRawBufferPointer? {
        call.readSessionFrame(into: frame)
    }

    func send(frame: UnsafeRawBufferPointer) {
        if let wideband {
            let length = wideband.downlink(frame, into: widebandFrame)
            messages.send(binary: UnsafeRawBufferPointer(rebasing: widebandFrame[..<length]))
        } else {
            messages.send(binary: frame)
        }
    }

    func flush() -> Bool {
        send(.flushMedia)
        return true
    }

    func mark(name: String) -> Bool {
        send(.markMedia(correlationID: name))
        return true
    }

    func hangUp() { messages.close(code: .goingAway) }
    func drop() { messages.channel.close(promise: nil) }

    /// Asterisk hangs the channel up on HANGUP, then closes the WebSocket itself.
    func endCall() { send(.hangup) }

    private func send(_ command: ChanWebSocketCommand) {
        messages.send(text: ChanWebSocketCodec.encode(command, format: format))
    }
}
