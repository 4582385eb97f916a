// SPDX-License-Identifier: MIT
// The C ABI: attaching transports — a host's ab_transport_ops, or a built-in local agent.
import AudioBridgeCore
import AudioBridgeSession
import AudioBridgeTransports
import CAudioBridgeABI

/// A host transport: the C vtable behind the Swift protocol. Its callbacks run on the engine's
/// I/O thread (attached: on the attaching thread), never on the media thread.
final class CTransport: AgentTransport {
    private let live = LiveObject(.agent)
    private let ops: ab_transport_ops
    private let sessionHandle: OpaquePointer

    init(ops: ab_transport_ops, sessionHandle: OpaquePointer) {
        self.ops = ops
        self.sessionHandle = sessionHandle
    }

    func attached(to session: Session) { ops.attached?(ops.user, sessionHandle) }

    func send(uplink audio: UnsafeRawBufferPointer) -> Int32 {
        guard let send = ops.send_audio, let base = audio.baseAddress else { return 0 }
        let status = send(ops.user, base, audio.count)
        return status < 0 ? status : 0
    }

    func handle(_ event: SessionEvent) {
        guard let onEvent = ops.on_event else { return }
        var c = cEvent(event)
        onEvent(ops.user, &c)
    }

    func poll(_ session: Session) { ops.poll?(ops.user, sessionHandle) }

    func close() {
        ops.close?(ops.user)
        ops.detached?(ops.user)
    }
}

@_cdecl("ab_session_attach_transport")
public func abSessionAttachTransport(_ handle: OpaquePointer?, _ ops: UnsafePointer<ab_transport_ops>?) -> Int32 {
    guard let handle else { return AudioBridgeError.invalidArgument.code }
    guard let ops else { return AudioBridgeError.invalidArgument.code }
    let transport: ab_transport_ops
    do throws(AudioBridgeError) {
        transport = try readVersioned(ops, as: "ab_transport_ops", acceptedSizes: [MemoryLayout<ab_transport_ops>.size], defaults: ab_transport_ops())
    } catch {
        return error.code
    }
    guard transport.send_audio != nil, transport.close != nil else { return failure(.invalidArgument, "ab_session_attach_transport: send_audio and close are required") }
    let sessionHandle = Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    let result = status { () throws(AudioBridgeError) in
        try sessionHandle.engine.attach(CTransport(ops: transport, sessionHandle: handle), to: sessionHandle.session)
    }
    if result != AudioBridgeStatus.ok { LibraryLog.emit(.error, "ab_session_attach_transport: \(AudioBridgeStatus.message(for: result))") }
    return result
}

@_cdecl("ab_session_attach_agent")
public func abSessionAttachAgent(_ handle: OpaquePointer?, _ uri: UnsafePointer<CChar>?) -> Int32 {
    guard let handle, let uri else { return AudioBridgeError.invalidArgument.code }
    let sessionHandle = Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    let name = String(cString: uri)
    let result = status { () throws(AudioBridgeError) in
        let agent = try LocalAgentURI.makeAgent(name)
        try sessionHandle.engine.attach(agent, to: sessionHandle.session)
    }
    if result == AudioBridgeStatus.ok {
        LibraryLog.emit(.info, "agent \"\(name)\" attached")
    } else {
        LibraryLog.emit(.error, "ab_session_attach_agent \"\(name)\": \(AudioBridgeStatus.message(for: result))")
    }
    return result
}

@_cdecl("ab_session_detach_transport")
public func abSessionDetachTransport(_ handle: OpaquePointer?) -> Int32 {
    guard let handle else { return AudioBridgeError.invalidArgument.code }
    let sessionHandle = Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    return sessionHandle.engine.detach(sessionHandle.session) ? AudioBridgeStatus.ok : AudioBridgeError.invalidState.code
}
