// SPDX-License-Identifier: MIT
// OpenAI Realtime (WebSocket) events the bridge sends and consumes, for both protocol versions:
// the GA one (`response.output_audio.delta`, `session.audio.input.format` objects) and the beta
// one (header `OpenAI-Beta: realtime=v1`, `response.audio.delta`, `input_audio_format` strings).
// Pure: JSON text in, events out; events in, JSON text out. Unknown server events decode as
// `.unknown(type)` for the transport to count and ignore.
import AudioBridgeCore

/// The audio format on the model side of the bridge.
public enum RealtimeAudioFormat: Equatable, Sendable {
    /// PCM16 little-endian mono at 24 kHz (the only PCM rate the API takes).
    case pcm16
    /// G.711 μ-law at 8 kHz: passthrough from a μ-law phone leg, no resampling.
    case ulaw
    case alaw

    /// Bytes per millisecond of audio, for converting byte counts to `audio_end_ms`.
    public var bytesPerMillisecond: Int { self == .pcm16 ? 48 : 8 }
}

public enum RealtimeProtocolVersion: Equatable, Sendable {
    case ga
    case beta
}

public enum RealtimeTurnDetection: Equatable, Sendable {
    /// No server VAD: the bridge commits the input buffer and asks for responses itself.
    case none
    /// The server's VAD; `speech_started` also triggers the local barge-in path.
    case serverVAD(threshold: Double, prefixPaddingMilliseconds: Int, silenceDurationMilliseconds: Int,
                   createResponse: Bool, interruptResponse: Bool)
    case semanticVAD(eagerness: String, createResponse: Bool, interruptResponse: Bool)
}

public struct RealtimeSessionSettings: Equatable, Sendable {
    public var model: String
    public var voice: String
    public var instructions: String
    public var format: RealtimeAudioFormat
    public var turnDetection: RealtimeTurnDetection
    /// The model that transcribes the caller's audio (`…transcription.completed` events), or nil
    /// for none. The bridge keeps the transcripts to give a new connection the conversation.
    public var inputTranscriptionModel: String?
    /// Functions the model may call (`tool_choice` "auto" when there are any).
    public var tools: [RealtimeTool] = []

    public init(model: String = "gpt-realtime", voice: String = "marin", instructions: String = "", format: RealtimeAudioFormat = .pcm16,
                turnDetection: RealtimeTurnDetection = .serverVAD(threshold: 0.5, prefixPaddingMilliseconds: 300, silenceDurationMilliseconds: 500,
                                                                  createResponse: true, interruptResponse: true),
                inputTranscriptionModel: String? = nil) {
        self.model = model
        self.voice = voice
        self.instructions = instructions
        self.format = format
        self.turnDetection = turnDetection
        self.inputTranscriptionModel = inputTranscriptionModel
    }
}

/// A function the model may call: its name, what it is for (the model reads this to decide
/// when to call it) and its arguments as a JSON Schema object.
public struct RealtimeTool: Equatable, Sendable {
    public var name: String
    public var description: String
    public var parameters: JSONValue

    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// Who said a turn of the conversation.
public enum RealtimeRole: String, Equatable, Sendable {
    case user
    case assistant
}

/// Events the bridge sends.
public enum RealtimeClientEvent: Equatable, Sendable {
    case sessionUpdate(RealtimeSessionSettings)
    case appendAudio([UInt8])
    case commitAudio
    case clearAudio
    case createResponse
    case cancelResponse(responseID: String?)
    /// Cuts an assistant audio item to what the caller heard.
    case truncate(itemID: String, contentIndex: Int, audioEndMilliseconds: Int)
    /// Adds a text message to the conversation (a turn carried over from an earlier connection).
    case createTextItem(role: RealtimeRole, text: String)
    /// The result of a function the model called (`callID` from its call), as text (JSON by convention).
    case functionCallOutput(callID: String, output: String)
}

/// Events the bridge consumes (both name sets map to the same case).
public enum RealtimeServerEvent: Equatable, Sendable {
    case sessionCreated
    case sessionUpdated
    case speechStarted(audioStartMilliseconds: Int?, itemID: String?)
    case speechStopped(audioEndMilliseconds: Int?, itemID: String?)
    case inputCommitted(itemID: String?)
    case responseCreated(responseID: String)
    case responseDone(responseID: String, status: String)
    /// Model audio, decoded from base64, in the session's output format.
    case audioDelta(responseID: String, itemID: String, contentIndex: Int, audio: [UInt8])
    case audioDone(responseID: String, itemID: String)
    case truncated(itemID: String, audioEndMilliseconds: Int)
    /// What the caller said in an input item (`conversation.item.input_audio_transcription.completed`).
    case inputTranscript(itemID: String, text: String)
    /// What the model said in an audio item (`response.output_audio_transcript.done`, beta
    /// `response.audio_transcript.done`).
    case outputTranscript(responseID: String?, itemID: String, text: String)
    /// The model called a function (`response.output_item.done` of a `function_call` item);
    /// `arguments` is the JSON text the model wrote, not checked here.
    case functionCall(responseID: String?, callID: String, name: String, arguments: String)
    case error(type: String, code: String?, message: String)
    case unknown(type: String)
}

public enum RealtimeError: Error, Equatable, Sendable {
    case badJSON(JSONError)
    case notAnObject
    case missingField(event: String, field: String)
    case badAudio(Base64.DecodingError)
}
