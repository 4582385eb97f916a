// SPDX-License-Identifier: MIT
// The session's full-duplex frame with its agent side looped back, for the benchmarks: the same
// work as FullDuplexFramePipeline (and the C reference) plus everything a session adds — the
// speech detector, item markers, heard-position tracking, events, statistics.
//
//   writeCaller (decode, detect, 8k→24k, uplink ring) → readUplink → writeDownlink (24k→8k,
//   playout ring) → readCaller (markers, encode)
import AudioBridgeCore
import AudioBridgeSession

public final class SessionEchoLoop {
    public let session: Session
    private let agentBuffer: UnsafeMutableRawBufferPointer

    /// `agentSampleRate`: 24 kHz as a realtime model speaks, or 8 kHz as the server's echo agent.
    public init(quality: Int = Resampler.defaultQuality, agentSampleRate: Int = 24000) throws(AudioBridgeError) {
        var configuration = SessionConfiguration()
        configuration.resamplerQuality = quality
        configuration.agentFormat = .pcm16(sampleRate: agentSampleRate)
        session = try Session(configuration: configuration)
        agentBuffer = .allocate(byteCount: 4096, alignment: 16)
        var memory = session.callerFrameMemory
        memory.add(session.playoutFrameMemory)
        memory.add(session.agentServiceMemory)
        memory.add(UnsafeRawPointer(agentBuffer.baseAddress), bytes: 320)
        self.memory = memory
    }

    deinit { agentBuffer.deallocate() }

    /// What a frame touches (the session's lists, AudioBridgeCore's HotMemory, and the agent
    /// buffer's first 20 ms at 8 kHz).
    private let memory: HotMemory

    /// Asks the caches for what the next `processFrame` touches, as the server does for the
    /// call after the one it is serving. Realtime-safe.
    public func prefetch() { memory.prefetch() }

    /// One frame both ways; returns the bytes written to `heard`. Realtime-safe.
    @discardableResult
    public func processFrame(caller: UnsafeRawBufferPointer, heard: UnsafeMutableRawBufferPointer) -> Int {
        guard case .success = session.media.writeCaller(caller) else { return 0 }
        let bytes = session.agent.readUplink(into: agentBuffer)
        _ = try? session.agent.writeDownlink(item: 1, UnsafeRawBufferPointer(rebasing: agentBuffer[..<bytes]))
        while session.pollEvent() != nil {}
        guard case .success(let written) = session.media.readCaller(into: heard) else { return 0 }
        return written
    }

    /// One frame both ways with the agent saying `agent` (its 20 ms of PCM16 at the agent's rate)
    /// instead of the caller's echo; an empty `agent` is an agent that is silent (the caller's
    /// uplink is read and dropped). Returns the bytes written to `heard`. Realtime-safe.
    @discardableResult
    public func processFrame(caller: UnsafeRawBufferPointer, agent: UnsafeRawBufferPointer, heard: UnsafeMutableRawBufferPointer) -> Int {
        guard case .success = session.media.writeCaller(caller) else { return 0 }
        _ = session.agent.readUplink(into: agentBuffer)
        if !agent.isEmpty { _ = try? session.agent.writeDownlink(item: 1, agent) }
        while session.pollEvent() != nil {}
        guard case .success(let written) = session.media.readCaller(into: heard) else { return 0 }
        return written
    }
}
