// SPDX-License-Identifier: MIT
// The C ABI: ab_session — creation, the media calls, the agent side, events and statistics.
import AudioBridgeCore
import AudioBridgeSession
import AudioBridgeTransports
import CAudioBridgeABI

/// What an ab_session* points at.
final class SessionHandle {
    let session: Session
    let engine: Engine
    init(session: Session, engine: Engine) {
        self.session = session
        self.engine = engine
    }
}

/// Borrows the session behind a handle for `body`, without retain/release (realtime-safe).
@inline(__always)
func withSession(_ handle: OpaquePointer?, _ body: (SessionHandle) -> Int32) -> Int32 {
    guard let handle else { return AudioBridgeError.invalidArgument.code }
    return Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef(body)
}

@_cdecl("ab_session_config_init")
public func abSessionConfigInit(_ config: UnsafeMutablePointer<ab_session_config>?) -> Int32 {
    guard let config else { return AudioBridgeError.invalidArgument.code }
    config.pointee = SessionConfigurationMapping.cConfig(from: SessionConfiguration())
    return AudioBridgeStatus.ok
}

@_cdecl("ab_session_create")
public func abSessionCreate(_ engine: OpaquePointer?, _ config: UnsafePointer<ab_session_config>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let engine, let out else { return AudioBridgeError.invalidArgument.code }
    out.pointee = nil
    var configuration = SessionConfiguration()
    if let config {
        do throws(AudioBridgeError) {
            configuration = try SessionConfigurationMapping.configuration(from: try SessionConfigurationMapping.read(config))
        } catch {
            return error.code
        }
    }
    if let problem = configuration.problem { return failure(problem.error, "ab_session_create: \(problem.description)") }
    let engineHandle = Unmanaged<EngineHandle>.fromOpaque(UnsafeRawPointer(engine)).takeUnretainedValue()
    let result = status { () throws(AudioBridgeError) in
        let session = try Session(configuration: configuration)
        out.pointee = OpaquePointer(Unmanaged.passRetained(SessionHandle(session: session, engine: engineHandle.engine)).toOpaque())
    }
    if result == AudioBridgeStatus.ok {
        LibraryLog.emit(.info, "session created: \(configuration.phoneCodec), \(configuration.frameMilliseconds) ms frames, agent \(configuration.agentFormat)")
    } else {
        LibraryLog.emit(.error, "ab_session_create: \(AudioBridgeStatus.message(for: result))")
    }
    return result
}

@_cdecl("ab_session_destroy")
public func abSessionDestroy(_ handle: OpaquePointer?) {
    guard let handle else { return }
    let sessionHandle = Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(handle)).takeRetainedValue()
    sessionHandle.engine.detach(sessionHandle.session)
    LibraryLog.emit(.info, "session destroyed after \(sessionHandle.session.statistics.framesIn) caller frames")
}

@_cdecl("ab_session_frame_bytes")
public func abSessionFrameBytes(_ handle: OpaquePointer?, _ bytes: UnsafeMutablePointer<Int>?) -> Int32 {
    withSession(handle) { s in
        guard let bytes else { return AudioBridgeError.invalidArgument.code }
        bytes.pointee = s.session.media.frameBytes
        return AudioBridgeStatus.ok
    }
}

@_cdecl("ab_session_write_caller")
public func abSessionWriteCaller(_ handle: OpaquePointer?, _ frame: UnsafeRawPointer?, _ bytes: Int) -> Int32 {
    withSession(handle) { s in
        guard let frame else { return AudioBridgeError.invalidArgument.code }
        guard bytes >= 0 else { return AudioBridgeError.wrongFrameSize.code }
        return status(s.session.media.writeCaller(UnsafeRawBufferPointer(start: frame, count: bytes)))
    }
}

@_cdecl("ab_session_read_caller")
public func abSessionReadCaller(_ handle: OpaquePointer?, _ out: UnsafeMutableRawPointer?, _ capacity: Int, _ written: UnsafeMutablePointer<Int>?) -> Int32 {
    withSession(handle) { s in
        guard let out, let written, capacity >= 0 else { return AudioBridgeError.invalidArgument.code }
        switch s.session.media.readCaller(into: UnsafeMutableRawBufferPointer(start: out, count: capacity)) {
        case .success(let bytes): written.pointee = bytes; return AudioBridgeStatus.ok
        case .failure(let error): written.pointee = 0; return error.code
        }
    }
}

@_cdecl("ab_session_caller_dtmf")
public func abSessionCallerDtmf(_ handle: OpaquePointer?, _ digit: CChar) -> Int32 {
    withSession(handle) { s in
        status(s.session.media.callerPressed(digit: UInt8(bitPattern: digit)))
    }
}

@_cdecl("ab_session_write_downlink")
public func abSessionWriteDownlink(_ handle: OpaquePointer?, _ item: UInt64, _ audio: UnsafeRawPointer?, _ bytes: Int, _ accepted: UnsafeMutablePointer<Int>?) -> Int32 {
    withSession(handle) { s in
        guard let accepted, bytes >= 0, audio != nil || bytes == 0 else { return AudioBridgeError.invalidArgument.code }
        accepted.pointee = 0
        return status { () throws(AudioBridgeError) in
            accepted.pointee = try s.session.agent.writeDownlink(item: item, UnsafeRawBufferPointer(start: audio, count: bytes))
        }
    }
}

@_cdecl("ab_session_end_item")
public func abSessionEndItem(_ handle: OpaquePointer?, _ item: UInt64) -> Int32 {
    withSession(handle) { s in
        status { () throws(AudioBridgeError) in try s.session.agent.endItem(item) }
    }
}

@_cdecl("ab_session_request_hangup")
public func abSessionRequestHangup(_ handle: OpaquePointer?) -> Int32 {
    withSession(handle) { s in
        status { () throws(AudioBridgeError) in try s.session.agent.requestHangup() }
    }
}

@_cdecl("ab_session_request_transfer")
public func abSessionRequestTransfer(_ handle: OpaquePointer?, _ request: UInt64) -> Int32 {
    withSession(handle) { s in
        status { () throws(AudioBridgeError) in try s.session.agent.requestTransfer(request) }
    }
}

@_cdecl("ab_session_read_uplink")
public func abSessionReadUplink(_ handle: OpaquePointer?, _ out: UnsafeMutableRawPointer?, _ capacity: Int, _ written: UnsafeMutablePointer<Int>?) -> Int32 {
    withSession(handle) { s in
        guard let out, let written, capacity >= 0 else { return AudioBridgeError.invalidArgument.code }
        written.pointee = s.session.agent.readUplink(into: UnsafeMutableRawBufferPointer(start: out, count: capacity))
        return AudioBridgeStatus.ok
    }
}

@_cdecl("ab_session_interrupt")
public func abSessionInterrupt(_ handle: OpaquePointer?) -> Int32 {
    withSession(handle) { s in
        s.session.interrupt()
        return AudioBridgeStatus.ok
    }
}

@_cdecl("ab_session_poll_event")
public func abSessionPollEvent(_ handle: OpaquePointer?, _ event: UnsafeMutablePointer<ab_event>?) -> Int32 {
    withSession(handle) { s in deliver(s.session.pollEvent, into: event) }
}

@_cdecl("ab_session_poll_agent_event")
public func abSessionPollAgentEvent(_ handle: OpaquePointer?, _ event: UnsafeMutablePointer<ab_event>?) -> Int32 {
    withSession(handle) { s in deliver(s.session.agent.pollNotification, into: event) }
}

@_cdecl("ab_session_confirm_barge_in")
public func abSessionConfirmBargeIn(_ handle: OpaquePointer?) -> Int32 {
    withSession(handle) { s in
        s.session.confirmBargeIn()
        return AudioBridgeStatus.ok
    }
}

/// The size of the first version's ab_session_stats (up to buffer_bytes): smaller is refused.
private let firstSessionStatsSize = MemoryLayout<ab_session_stats>.offset(of: \ab_session_stats.barge_in_pauses)!

@_cdecl("ab_session_get_stats")
public func abSessionGetStats(_ handle: OpaquePointer?, _ stats: UnsafeMutablePointer<ab_session_stats>?) -> Int32 {
    withSession(handle) { s in
        guard let stats else { return AudioBridgeError.invalidArgument.code }
        let counters = s.session.statistics
        var out = ab_session_stats()
        out.frames_in = counters.framesIn
        out.frames_out = counters.framesOut
        out.underrun_frames = counters.underrunFrames
        out.uplink_dropped_samples = counters.uplinkDroppedSamples
        out.downlink_discarded_samples = counters.downlinkDiscardedSamples
        out.barge_ins = counters.bargeIns
        out.events_dropped = counters.eventsDropped
        out.agent_events_dropped = counters.agentEventsDropped
        out.buffer_bytes = UInt64(s.session.bufferBytes)
        out.barge_in_pauses = counters.bargeInPauses
        out.barge_in_resumes = counters.bargeInResumes
        return writeGrowable(out, to: stats, firstVersionSize: firstSessionStatsSize)
    }
}

/// The first ab_event is the current one: every size from it on is taken.
private let firstEventSize = MemoryLayout<ab_event>.size

/// The poll calls' contract: 1 and the event written, 0 when none is waiting, or an error (a
/// struct_size too small takes no event).
@inline(__always)
func deliver(_ next: () -> SessionEvent?, into out: UnsafeMutablePointer<ab_event>?) -> Int32 {
    guard let out else { return AudioBridgeError.invalidArgument.code }
    guard UnsafeRawPointer(out).load(as: UInt32.self) >= UInt32(firstEventSize) else { return AudioBridgeError.abiMismatch.code }
    guard let event = next() else { return 0 }
    return writeGrowable(cEvent(event), to: out, firstVersionSize: firstEventSize) == AudioBridgeStatus.ok ? 1 : AudioBridgeError.abiMismatch.code
}

/// A SessionEvent as the C struct, struct_size set to the bytes valid.
func cEvent(_ event: SessionEvent) -> ab_event {
    var out = ab_event()
    out.struct_size = UInt32(MemoryLayout<ab_event>.size)
    out.kind = event.kind.rawValue
    out.digit = CChar(bitPattern: event.digit)
    out.code = event.code
    out.heard_ms = UInt32(clamping: event.heardMilliseconds)
    out.item = event.item
    out.heard_samples = event.heardSamples
    out.count = event.count
    out.timestamp_ms = event.timestampMilliseconds
    out.sequence = event.sequence
    return out
}
