// SPDX-License-Identifier: MIT
// The `wav` local agent: plays a file at once, and again after each thing the caller says;
// talk over it and it stops.
import AudioBridgeCore
import AudioBridgeSession

public final class WavAgent: AgentTransport {
    private let live = LiveObject(.agent)
    private let file: WavFile
    private var clip: UnsafeMutableRawBufferPointer?
    private var streamer: ItemStreamer
    private var greeted = false

    /// Loads `path` (mono PCM16, μ-law or A-law WAV at 8, 16, 24 or 48 kHz). Control thread.
    /// `followUp`: asked for each time the caller has heard the whole file.
    public convenience init(path: String, then followUp: AgentFollowUp = .none) throws(AudioBridgeError) {
        try self.init(file: try WavFile(contentsOf: path), then: followUp)
    }

    public init(file: WavFile, then followUp: AgentFollowUp = .none) throws(AudioBridgeError) {
        guard Resampler.supportedRates.contains(file.sampleRate) else { throw .unsupportedSampleRate }
        self.file = file
        streamer = ItemStreamer(then: followUp)
    }

    deinit { clip?.deallocate() }

    public func attached(to session: Session) {
        let configuration = session.configuration
        guard let pcm = try? file.samples(at: configuration.agentSampleRate) else { return }
        clip = Clip.encode(pcm, for: configuration)
    }

    public func send(uplink audio: UnsafeRawBufferPointer) -> Int32 { 0 }

    public func handle(_ event: SessionEvent) {
        streamer.handle(event)
        if event.kind == .speechStopped, !streamer.isPlaying, let clip { streamer.start(UnsafeRawBufferPointer(clip)) }
    }

    public func poll(_ session: Session) {
        if !greeted, let clip {
            greeted = true
            streamer.start(UnsafeRawBufferPointer(clip))
        }
        streamer.pump(session)
    }
}
