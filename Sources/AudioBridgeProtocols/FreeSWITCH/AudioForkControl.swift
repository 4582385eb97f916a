// SPDX-License-Identifier: MIT
// FreeSWITCH's WebSocket audio streaming modules, as the server sees them. All three send the
// caller's audio as BINARY L16 little-endian (8 or 16 kHz; mono, mixed, or stereo interleaved) in
// messages of any length, after an optional first TEXT message carrying the metadata string the
// dialplan gave. They differ in what the server may send back:
//
//   mod_audio_fork (drachtio, subprotocol audio.drachtio.org)
//     {"type":"playAudio","data":{"audioContentType":"raw","sampleRate":8000,"audioContent":"<b64 L16>"}}
//       written to a file, played by the controlling application; {"type":"killAudio"} stops it
//   jambonz's fork (subprotocol audio.jambonz.org), streaming mode
//     BINARY L16 at the declared rate, played in place of the channel's audio;
//     {"type":"mark","data":{"name":"n"}} → {"type":"mark","data":{"name":"n","event":"playout"}}
//     when played, "event":"cleared" when dropped by killAudio; {"type":"clearMarks"}
//   mod_audio_stream (amigniter; no subprotocol; permessage-deflate on by default)
//     {"type":"streamAudio","data":{"audioDataType":"raw","sampleRate":8000,"audioData":"<b64>"}}
//
// The metadata string is free text; when it is a JSON object, "sampleRate"/"sample_rate" and
// "mixType"/"mix_type" ("mono", "mixed", "stereo") describe the audio, as jambonz sends them.
// Digits do not come on their own: an application may forward them with `send_text`, and we take
// {"type":"dtmf","digit":"5"} (or "event" for "type", or the digit under "data").
import AudioBridgeCore

public enum AudioForkFlavor: String, Equatable, Sendable, CaseIterable {
    /// drachtio mod_audio_fork: playAudio files, killAudio.
    case audioFork = "audio.drachtio.org"
    /// jambonz's fork with streamed playback: BINARY downlink, marks.
    case jambonz = "audio.jambonz.org"
    /// amigniter mod_audio_stream: streamAudio files.
    case audioStream = ""

    /// The flavor a connection's subprotocol names (none: mod_audio_stream).
    public init?(subprotocol: String?) {
        switch subprotocol {
        case nil, "": self = .audioStream
        case AudioForkFlavor.audioFork.rawValue: self = .audioFork
        case AudioForkFlavor.jambonz.rawValue: self = .jambonz
        default: return nil
        }
    }
}

public enum AudioForkMix: String, Equatable, Sendable {
    /// The caller alone.
    case mono
    /// Both legs summed into one channel (the agent's audio is in it too).
    case mixed
    /// Two interleaved channels: caller, then the other leg.
    case stereo

    public var channels: Int { self == .stereo ? 2 : 1 }
}

public struct AudioForkMetadata: Equatable, Sendable {
    public var text: String
    public var sampleRate: Int?
    public var mix: AudioForkMix?

    public init(text: String, sampleRate: Int? = nil, mix: AudioForkMix? = nil) {
        self.text = text
        self.sampleRate = sampleRate
        self.mix = mix
    }

    /// Reads what it can from the metadata string; never fails (the string is the dialplan's).
    public static func parse(_ bytes: [UInt8]) -> AudioForkMetadata {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let value = try? JSONParser.parse(bytes, maximumBytes: AudioForkCodec.maximumControlBytes), case .object = value else {
            return AudioForkMetadata(text: text)
        }
        let rate = (value["sampleRate"] ?? value["sample_rate"]).flatMap { $0.int ?? $0.string.flatMap { Int($0) } }
        let mix = (value["mixType"] ?? value["mix_type"])?.string.flatMap { AudioForkMix(rawValue: $0.lowercased()) }
        return AudioForkMetadata(text: text, sampleRate: rate, mix: mix)
    }
}

/// A TEXT message from FreeSWITCH after the metadata.
public enum AudioForkInbound: Equatable, Sendable {
    /// jambonz: a mark reached the caller ("playout") or was dropped ("cleared").
    case mark(name: String, played: Bool)
    case dtmf(digit: UInt8)
    case unknown(type: String)
}

/// What the server sends FreeSWITCH as TEXT.
public enum AudioForkOutbound: Equatable, Sendable {
    /// mod_audio_fork: a piece of L16 for the application to play.
    case playAudio(sampleRate: Int, pcm16LittleEndian: [UInt8])
    /// mod_audio_stream: the same, its way.
    case streamAudio(sampleRate: Int, pcm16LittleEndian: [UInt8])
    case killAudio
    /// jambonz: a mark after the audio sent so far.
    case mark(name: String)
    case clearMarks
    case disconnect
    case error(String)
}

public enum AudioForkError: Error, Equatable, Sendable {
    case badJSON(JSONError)
    case notAnObject
    case missingField(type: String, field: String)
    case badValue(type: String, field: String)
}

public enum AudioForkCodec {
    public static let maximumControlBytes = 64 * 1024

    public static func encode(_ message: AudioForkOutbound) -> [UInt8] {
        let value: JSONValue
        switch message {
        case .playAudio(let rate, let pcm):
            value = ["type": "playAudio", "data": ["audioContentType": "raw", "sampleRate": .number(String(rate)), "audioContent": .string(base64(pcm))]]
        case .streamAudio(let rate, let pcm):
            value = ["type": "streamAudio", "data": ["audioDataType": "raw", "sampleRate": .number(String(rate)), "audioData": .string(base64(pcm))]]
        case .killAudio:
            value = ["type": "killAudio"]
        case .mark(let name):
            value = ["type": "mark", "data": ["name": .string(name)]]
        case .clearMarks:
            value = ["type": "clearMarks"]
        case .disconnect:
            value = ["type": "disconnect"]
        case .error(let text):
            value = ["type": "error", "data": ["error": .string(text)]]
        }
        var bytes: [UInt8] = []
        value.write(into: &bytes)
        return bytes
    }

    private static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        Base64.encode(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: [UInt8]) throws(AudioForkError) -> AudioForkInbound {
        let message: JSONValue
        do throws(JSONError) { message = try JSONParser.parse(text, maximumBytes: maximumControlBytes) } catch { throw .badJSON(error) }
        guard case .object = message else { throw .notAnObject }
        guard let type = (message["type"] ?? message["event"])?.string else { throw .missingField(type: "?", field: "type") }
        let data = message["data"]
        switch type {
        case "mark":
            guard let name = (data?["name"] ?? message["name"])?.string else { throw .missingField(type: type, field: "name") }
            switch (data?["event"] ?? message["event"])?.string {
            case "playout": return .mark(name: name, played: true)
            case "cleared": return .mark(name: name, played: false)
            default: throw .badValue(type: type, field: "event")
            }
        case "dtmf":
            guard let digit = (message["digit"] ?? message["dtmf"] ?? data?["digit"] ?? data?["dtmf"])?.string else { throw .missingField(type: type, field: "digit") }
            guard digit.utf8.count == 1, let byte = digit.utf8.first, AudioSocketMessage.isDTMF(byte) else { throw .badValue(type: type, field: "digit") }
            return .dtmf(digit: byte)
        default:
            return .unknown(type: type)
        }
    }
}
