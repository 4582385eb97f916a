// SPDX-License-Identifier: MIT
// The C ABI: ab_rtp (an RTP endpoint in front of a session) and ab_srtp (an SRTP context on
// its own). Thin: every call maps to AudioBridgeRTP's RTPEndpoint or SRTPContext.
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
    c.abi_version = UInt32(AB_ABI_VERSION)
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
    let c: ab_rtp_config
    do throws(AudioBridgeError) {
        c = try readVersioned(config, as: "ab_rtp_config", acceptedSizes: [MemoryLayout<ab_rtp_config>.size], defaults: ab_rtp_config())
    } catch {
        return error.code
    }
    guard c.payload_type <= 127 else { return failure(.invalidArgument, "ab_rtp_create: payload_type \(c.payload_type) is not 0–127") }
    guard c.telephone_event_pt >= -1, c.telephone_event_pt <= 127 else { return failure(.invalidArgument, "ab_rtp_create: telephone_event_pt \(c.telephone_event_pt) is not -1 or 96–127") }
    guard c.jitter_min_ms <= 1000, c.jitter_max_ms <= 1000, c.jitter_min_ms <= c.jitter_max_ms else {
        return failure(.invalidArgument, "ab_rtp_create: jitter_min_ms \(c.jitter_min_ms) and jitter_max_ms \(c.jitter_max_ms) must be 0–1000, min ≤ max")
    }
    var configuration = RTPEndpointConfiguration()
    configuration.payloadType = UInt8(c.payload_type)
    configuration.telephoneEventPayloadType = c.telephone_event_pt < 0 ? nil : UInt8(c.telephone_event_pt)
    configuration.ssrc = c.ssrc == 0 ? nil : c.ssrc
    configuration.jitterBuffer = JitterBufferSettings(minimumDelayMilliseconds: Int(c.jitter_min_ms), maximumDelayMilliseconds: Int(c.jitter_max_ms))
    switch c.srtp_profile {
    case Int32(AB_SRTP_NONE):
        guard c.srtp_send_key == nil, c.srtp_receive_key == nil else { return failure(.invalidArgument, "ab_rtp_create: SRTP keys given with srtp_profile AB_SRTP_NONE") }
    case Int32(AB_SRTP_AES128_CM_HMAC_SHA1_80), Int32(AB_SRTP_AES128_CM_HMAC_SHA1_32):
        guard let send = sdesKey(c.srtp_send_key) else { return failure(.invalidArgument, "ab_rtp_create: srtp_send_key is missing or not an SDES key of 30 bytes in base64") }
        guard let receive = sdesKey(c.srtp_receive_key) else { return failure(.invalidArgument, "ab_rtp_create: srtp_receive_key is missing or not an SDES key of 30 bytes in base64") }
        configuration.srtpProfile = SRTPProfile(rawValue: c.srtp_profile)!
        configuration.srtpSendKey = send
        configuration.srtpReceiveKey = receive
    default:
        return failure(.invalidArgument, "ab_rtp_create: srtp_profile \(c.srtp_profile) is not an AB_SRTP_* value")
    }
    let sessionHandle = Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(session)).takeUnretainedValue()
    let codec = sessionHandle.session.configuration.phoneCodec
    guard RTPEndpointConfiguration.accepts(configuration.payloadType, for: codec) else {
        return failure(.unsupportedCodec, "ab_rtp_create: payload_type \(c.payload_type) cannot carry the session's codec \(codec) (0 for μ-law, 8 for A-law, 10, 11 or 96–127 for slin16)")
    }
    let result = status { () throws(AudioBridgeError) in
        let endpoint = try RTPEndpoint(session: sessionHandle.session, configuration: configuration)
        out.pointee = OpaquePointer(Unmanaged.passRetained(endpoint).toOpaque())
    }
    if result == AudioBridgeStatus.ok {
        LibraryLog.emit(.info, "RTP endpoint created: payload type \(c.payload_type), SRTP \(configuration.srtpSendKey == nil ? "off" : configuration.srtpProfile.sdesName)")
    } else {
        LibraryLog.emit(.error, "ab_rtp_create: \(AudioBridgeStatus.message(for: result))")
    }
    return result
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
        case .audio, .telephoneEvent, .comfortNoise, .rtcp: return AudioBridgeStatus.ok
        case .dropped(let error): return error.code
        }
    }
}

@_cdecl("ab_rtp_tick")
public func abRTPTick(_ handle: OpaquePointer?, _ now: UInt64, _ out: UnsafeMutableRawPointer?, _ capacity: Int, _ written: UnsafeMutablePointer<Int>?) -> Int32 {
    withEndpoint(handle) { endpoint in
        guard let out, let written, capacity >= 0 else { return AudioBridgeError.invalidArgument.code }
        switch endpoint.tick(nowMicroseconds: now, into: UnsafeMutableRawBufferPointer(start: out, count: capacity)) {
        case .success(let length): written.pointee = length; return AudioBridgeStatus.ok
        case .failure(let error): written.pointee = 0; return error.code
        }
    }
}

@_cdecl("ab_rtp_send_digit")
public func abRTPSendDigit(_ handle: OpaquePointer?, _ digit: CChar, _ duration: UInt32) -> Int32 {
    withEndpoint(handle) { endpoint in
        status(endpoint.sendDigit(UInt8(bitPattern: digit), durationMilliseconds: Int(min(duration, 8000))))
    }
}

/// The first ab_rtp_stats: everything before rtcp_packets.
private let firstRTPStatsSize = MemoryLayout<ab_rtp_stats>.offset(of: \ab_rtp_stats.rtcp_packets)!

@_cdecl("ab_rtp_get_stats")
public func abRTPGetStats(_ handle: OpaquePointer?, _ stats: UnsafeMutablePointer<ab_rtp_stats>?) -> Int32 {
    withEndpoint(handle) { endpoint in
        guard let stats else { return AudioBridgeError.invalidArgument.code }
        let s = endpoint.statistics
        let j = s.jitterBuffer
        var out = ab_rtp_stats()
        out.fraction_lost = UInt32(s.fractionLost)
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
        out.rtcp_packets = s.rtcpPackets
        return writeGrowable(out, to: stats, firstVersionSize: firstRTPStatsSize)
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
