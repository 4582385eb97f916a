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

    public init(quality: Int = Resampler.defaultQuality) throws(AudioBridgeError) {
        var configuration = SessionConfiguration()
        configuration.resamplerQuality = quality
        session = try Session(configuration: configuration)
        agentBuffer = .allocate(byteCount: 4096, alignment: 16)
    }

    deinit { agentBuffer.deallocate() }

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
