// SPDX-License-Identifier: MIT
// The C ABI: ab_rtp (an RTP endpoint in front of a session) and ab_srtp (an SRTP context on
// its own). Thin: every call maps to AudioBridgeTransports.RTPEndpoint or
// AudioBridgeProtocols.SRTPContext.
import AudioBridgeCore
import AudioBridgeRTP
import AudioBridgeSession
import AudioBridgeTransports
import CAudioBridgeABI

@inline(__always)
private func withEndpoint(_ handle: OpaquePointer?, _ body: (RTPEndpoint) -> Int32) -> Int32 {
    guard let handle else { return AudioBridgeError.invalidArgument.code }
    return Unmanaged<RTPEndpoint>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef(body)
}

@inline(__always)
private func withSRTP(_ handle: OpaquePointer?, _ body: (SRTPContext) -> Int32) -> Int32 {
    guard let handle else { return AudioBridgeError.invalidArgument.code }
    return Unmanaged<SRTPContext>.fromOpaque(UnsafeRawPointer(handle))._withUnsafeGuaranteedRef(body)
}

/// An SDES key from a C string; nil if missing or unparsable.
private func sdesKey(_ text: UnsafePointer<CChar>?) -> SRTPMasterKey? {
    guard let text else { return nil }
    return try? SRTPMasterKey(sdes: String(cString: text))
}

@_cdecl("ab_rtp_config_init")
public func abRTPConfigInit(_ config: UnsafeMutablePointer<ab_rtp_config>?) -> Int32 {
    guard let config else { return AudioBridgeError.invalidArgument.code }
    let defaults = RTPEndpointConfiguration()
    var c = ab_rtp_config()
    c.struct_size = UInt32(MemoryLayout<ab_rtp_config>.size)
    c.payload_type = UInt32(defaults.payloadType)
    c.telephone_event_pt = Int32(defaults.telephoneEventPayloadType ?? 0)
    c.ssrc = 0
    c.jitter_min_ms = UInt32(defaults.jitterBuffer.minimumDelayMilliseconds)
    c.jitter_max_ms = UInt32(defaults.jitterBuffer.maximumDelayMilliseconds)
    c.srtp_profile = Int32(AB_SRTP_NONE)
    config.pointee = c
    return AudioBridgeStatus.ok
}

@_cdecl("ab_rtp_create")
public func abRTPCreate(_ session: OpaquePointer?, _ config: UnsafePointer<ab_rtp_config>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let session, let config, let out else { return AudioBridgeError.invalidArgument.code }
    out.pointee = nil
    let c = config.pointee
    guard c.struct_size == UInt32(MemoryLayout<ab_rtp_config>.size) else { return AudioBridgeError.abiMismatch.code }
    guard c.payload_type <= 127, c.telephone_event_pt >= -1, c.telephone_event_pt <= 127,
          c.jitter_min_ms <= 1000, c.jitter_max_ms <= 1000 else { return AudioBridgeError.invalidArgument.code }
    var configuration = RTPEndpointConfiguration()
    configuration.payloadType = UInt8(c.payload_type)
    configuration.telephoneEventPayloadType = c.telephone_event_pt < 0 ? nil : UInt8(c.telephone_event_pt)
    configuration.ssrc = c.ssrc == 0 ? nil : c.ssrc
    configuration.jitterBuffer = JitterBufferSettings(minimumDelayMilliseconds: Int(c.jitter_min_ms), maximumDelayMilliseconds: Int(c.jitter_max_ms))
    switch c.srtp_profile {
    case Int32(AB_SRTP_NONE):
        guard c.srtp_send_key == nil, c.srtp_receive_key == nil else { return AudioBridgeError.invalidArgument.code }
    case Int32(AB_SRTP_AES128_CM_HMAC_SHA1_80), Int32(AB_SRTP_AES128_CM_HMAC_SHA1_32):
        guard let send = sdesKey(c.srtp_send_key), let receive = sdesKey(c.srtp_receive_key) else { return AudioBridgeError.invalidArgument.code }
        configuration.srtpProfile = SRTPProfile(rawValue: c.srtp_profile)!
        configuration.srtpSendKey = send
        configuration.srtpReceiveKey = receive
    default:
        return AudioBridgeError.invalidArgument.code
    }
    let sessionHandle = Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(session)).takeUnretainedValue()
    return status { () throws(AudioBridgeError) in
        let endpoint = try RTPEndpoint(session: sessionHandle.session, configuration: configuration)
        out.pointee = OpaquePointer(Unmanaged.passRetained(endpoint).toOpaque())
    }
}

@_cdecl("ab_rtp_destroy")
public func abRTPDestroy(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<RTPEndpoint>.fromOpaque(UnsafeRawPointer(handle)).release()
}

@_cdecl("ab_rtp_receive")
public func abRTPReceive(_ handle: OpaquePointer?, _ packet: UnsafeRawPointer?, _ bytes: Int, _ arrival: UInt64) -> Int32 {
    withEndpoint(handle) { endpoint in
        guard let packet, bytes >= 0 else { return AudioBridgeError.invalidArgument.code }
        switch endpoint.receive(UnsafeRawBufferPointer(start: packet, count: bytes), arrivalMicroseconds: arrival) {
        case .audio, .telephoneEvent, .comfortNoise: return AudioBridgeStatus.ok
        case .dropped(let error): return error.code
        }
    }
}

@_cdecl("ab_rtp_tick")
public func abRTPTick(_ handle: OpaquePointer?, _ now: UInt64, _ out: UnsafeMutableRawPointer?, _ capacity: Int, _ written: UnsafeMutablePointer<Int>?) -> Int32 {
    withEndpoint(handle) { endpoint in
        guard let out, let written, capacity >= 0 else { return AudioBridgeError.invalidArgument.code }
        written.pointee = 0
        return status { () throws(AudioBridgeError) in
            written.pointee = try endpoint.tick(nowMicroseconds: now, into: UnsafeMutableRawBufferPointer(start: out, count: capacity))
        }
    }
}

@_cdecl("ab_rtp_send_digit")
public func abRTPSendDigit(_ handle: OpaquePointer?, _ digit: CChar, _ duration: UInt32) -> Int32 {
    withEndpoint(handle) { endpoint in
        status { () throws(AudioBridgeError) in try endpoint.sendDigit(UInt8(bitPattern: digit), durationMilliseconds: Int(min(duration, 8000))) }
    }
}

@_cdecl("ab_rtp_get_stats")
public func abRTPGetStats(_ handle: OpaquePointer?, _ stats: UnsafeMutablePointer<ab_rtp_stats>?) -> Int32 {
    withEndpoint(handle) { endpoint in
        guard let stats else { return AudioBridgeError.invalidArgument.code }
        // Read through raw bytes: a newer host's struct may be larger than ours; any size of at
        // least this (the first) version's is taken, and what fits is written.
        let raw = UnsafeMutableRawPointer(stats)
        let size = Int(raw.load(as: UInt32.self))
        guard size >= MemoryLayout<ab_rtp_stats>.size else { return AudioBridgeError.abiMismatch.code }
        let written = MemoryLayout<ab_rtp_stats>.size
        let s = endpoint.statistics
        let j = s.jitterBuffer
        var out = ab_rtp_stats()
        out.struct_size = UInt32(written)
        out.fraction_lost = UInt32(endpoint.fractionLostSinceLastReport())
        out.packets_received = s.packetsReceived
        out.packets_sent = s.packetsSent
        out.cumulative_lost = Int64(s.cumulativeLost)
        out.expected = s.expected
        out.extended_highest_seq = s.extendedHighestSequence
        out.jitter_us = UInt32(min(s.jitterMilliseconds * 1000, Double(UInt32.max)))
        out.malformed = s.malformed
        out.srtp_auth_failures = s.srtpAuthenticationFailures
        out.srtp_replays = s.srtpReplays
        out.unknown_payload_type = s.unknownPayloadType
        out.comfort_noise = s.comfortNoise
        out.digits_received = s.digitsReceived
        out.digits_sent = s.digitsSent
        out.source_changes = s.sourceChanges
        out.jitter_buffer_delay_ms = UInt32(clamping: max(0, j.delayMilliseconds))
        out.jitter_buffer_target_ms = UInt32(clamping: max(0, j.targetDelayMilliseconds))
        out.late = j.late
        out.duplicates = j.duplicates
        out.too_early = j.tooEarly
        out.frames_played = j.framesPlayed
        out.frames_concealed = j.framesConcealed
        out.frames_silent = j.framesSilent
        out.frames_skipped = j.framesSkipped
        out.frames_repeated = j.framesRepeated
        out.resynchronisations = j.resynchronisations
        withUnsafeBytes(of: &out) { raw.copyMemory(from: $0.baseAddress!, byteCount: written) }
        return AudioBridgeStatus.ok
    }
}

@_cdecl("ab_srtp_create")
public func abSRTPCreate(_ profile: Int32, _ key: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guard let out else { return AudioBridgeError.invalidArgument.code }
    out.pointee = nil
    guard let srtpProfile = SRTPProfile(rawValue: profile), let master = sdesKey(key) else { return AudioBridgeError.invalidArgument.code }
    guard let context = SRTPContext(profile: srtpProfile, masterKey: master, maximumPacketLength: Int(AB_RTP_MAX_PACKET)) else { return AudioBridgeError.internalFailure.code }
    out.pointee = OpaquePointer(Unmanaged.passRetained(context).toOpaque())
    return AudioBridgeStatus.ok
}

@_cdecl("ab_srtp_destroy")
public func abSRTPDestroy(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<SRTPContext>.fromOpaque(UnsafeRawPointer(handle)).release()
}

@_cdecl("ab_srtp_protect")
public func abSRTPProtect(_ handle: OpaquePointer?, _ packet: UnsafeMutableRawPointer?, _ bytes: Int, _ capacity: Int, _ written: UnsafeMutablePointer<Int>?) -> Int32 {
    withSRTP(handle) { context in
        guard let packet, let written, bytes >= 0, capacity >= bytes else { return AudioBridgeError.invalidArgument.code }
        written.pointee = 0
        guard capacity >= bytes + context.profile.tagLength else { return AudioBridgeError.bufferTooSmall.code }
        switch context.protect(UnsafeMutableRawBufferPointer(start: packet, count: capacity), length: bytes) {
        case .success(let length): written.pointee = length; return AudioBridgeStatus.ok
        case .failure(.cryptoFailure): return AudioBridgeError.internalFailure.code
        case .failure: return AudioBridgeError.protocolViolation.code
        }
    }
}

@_cdecl("ab_srtp_unprotect")
public func abSRTPUnprotect(_ handle: OpaquePointer?, _ packet: UnsafeMutableRawPointer?, _ bytes: Int, _ written: UnsafeMutablePointer<Int>?) -> Int32 {
    withSRTP(handle) { context in
        guard let packet, let written, bytes >= 0 else { return AudioBridgeError.invalidArgument.code }
        written.pointee = 0
        switch context.unprotect(UnsafeMutableRawBufferPointer(start: packet, count: bytes), length: bytes) {
        case .success(let length): written.pointee = length; return AudioBridgeStatus.ok
        case .failure(.cryptoFailure): return AudioBridgeError.internalFailure.code
        case .failure: return AudioBridgeError.protocolViolation.code
        }
    }
}
