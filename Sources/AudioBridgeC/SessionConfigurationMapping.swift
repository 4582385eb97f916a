// SPDX-License-Identifier: MIT
// ab_session_config ⇄ SessionConfiguration. Every field is checked here or by
// SessionConfiguration.validate(), so a bad value from the host is an error code, never a trap.
import AudioBridgeCore
import AudioBridgeSession
import CAudioBridgeABI

enum SessionConfigurationMapping {
    /// The size of the first ab_session_config: everything before agent_talking_extra_db.
    static let firstVersionSize = MemoryLayout<ab_session_config>.offset(of: \ab_session_config.agent_talking_extra_db)!
    /// The size before the pause-then-commit fields: everything before barge_in_mode.
    static let secondVersionSize = MemoryLayout<ab_session_config>.offset(of: \ab_session_config.barge_in_mode)!
    static let acceptedSizes = [firstVersionSize, secondVersionSize, MemoryLayout<ab_session_config>.size]

    /// The host's config as this version's struct: an older one (smaller) is copied over the
    /// defaults, so the fields it lacks keep their default values. Checks size and ABI version.
    static func read(_ config: UnsafePointer<ab_session_config>) throws(AudioBridgeError) -> ab_session_config {
        var full = try readVersioned(config, as: "ab_session_config", acceptedSizes: acceptedSizes, defaults: cConfig(from: SessionConfiguration()))
        full.struct_size = UInt32(MemoryLayout<ab_session_config>.size)
        return full
    }

    static func cConfig(from c: SessionConfiguration) -> ab_session_config {
        var out = ab_session_config()
        out.struct_size = UInt32(MemoryLayout<ab_session_config>.size)
        out.abi_version = UInt32(AB_ABI_VERSION)
        out.phone_codec = c.phoneCodec.rawValue
        out.frame_ms = UInt32(c.frameMilliseconds)
        out.agent_format = c.agentFormat == .g711Passthrough ? UInt32(AB_AGENT_G711_PASSTHROUGH) : UInt32(AB_AGENT_PCM16)
        out.agent_rate_hz = UInt32(c.agentSampleRate)
        out.resampler_quality = Int32(c.resamplerQuality)
        out.playout_capacity_ms = UInt32(c.playoutCapacityMilliseconds)
        out.uplink_capacity_ms = UInt32(c.uplinkCapacityMilliseconds)
        out.event_capacity = UInt32(c.eventCapacity)
        out.barge_in_enabled = c.bargeIn.enabled ? 1 : 0
        out.fade_ms = UInt32(c.bargeIn.fadeMilliseconds)
        out.min_speech_ms = UInt32(c.bargeIn.detector.minimumSpeechMilliseconds)
        out.hangover_ms = UInt32(c.bargeIn.detector.hangoverMilliseconds)
        out.threshold_db = c.bargeIn.detector.thresholdDecibels
        out.min_level_dbfs = c.bargeIn.detector.minimumLevelDbfs
        out.echo_rejection_db = c.bargeIn.detector.echoMarginDecibels
        out.agent_talking_extra_db = c.bargeIn.detector.agentTalkingExtraDecibels
        out.background_margin_db = c.bargeIn.detector.backgroundMarginDecibels
        out.end_of_turn_ms = UInt32(c.bargeIn.detector.endOfTurnMilliseconds)
        out.barge_in_mode = c.bargeIn.arbitration.mode.rawValue
        out.confirm_ms = UInt32(c.bargeIn.arbitration.confirmationMilliseconds)
        out.max_pause_ms = UInt32(c.bargeIn.arbitration.maximumPauseMilliseconds)
        return out
    }

    /// The C struct as a SessionConfiguration; values are checked by ab_session_create (through
    /// `problem`, so the log can name the field), not here.
    static func configuration(from c: ab_session_config) throws(AudioBridgeError) -> SessionConfiguration {
        var out = SessionConfiguration()
        guard let codec = PhoneCodec(rawValue: c.phone_codec) else {
            LibraryLog.emit(.error, "ab_session_config: phone_codec \(c.phone_codec) is not an AB_CODEC_* value")
            throw .unsupportedCodec
        }
        out.phoneCodec = codec
        // UInt32 fields go through Int(clamping:) so huge values fail validation, not conversion.
        out.frameMilliseconds = Int(clamping: c.frame_ms)
        switch c.agent_format {
        case UInt32(AB_AGENT_PCM16): out.agentFormat = .pcm16(sampleRate: Int(clamping: c.agent_rate_hz))
        case UInt32(AB_AGENT_G711_PASSTHROUGH): out.agentFormat = .g711Passthrough
        default:
            LibraryLog.emit(.error, "ab_session_config: agent_format \(c.agent_format) is not an AB_AGENT_* value")
            throw .unsupportedCodec
        }
        out.resamplerQuality = Int(c.resampler_quality)
        out.playoutCapacityMilliseconds = Int(clamping: c.playout_capacity_ms)
        out.uplinkCapacityMilliseconds = Int(clamping: c.uplink_capacity_ms)
        out.eventCapacity = Int(clamping: c.event_capacity)
        out.bargeIn.enabled = c.barge_in_enabled != 0
        out.bargeIn.fadeMilliseconds = Int(clamping: c.fade_ms)
        out.bargeIn.detector.minimumSpeechMilliseconds = Int(clamping: c.min_speech_ms)
        out.bargeIn.detector.hangoverMilliseconds = Int(clamping: c.hangover_ms)
        out.bargeIn.detector.thresholdDecibels = c.threshold_db
        out.bargeIn.detector.minimumLevelDbfs = c.min_level_dbfs
        out.bargeIn.detector.echoMarginDecibels = c.echo_rejection_db
        out.bargeIn.detector.agentTalkingExtraDecibels = c.agent_talking_extra_db
        out.bargeIn.detector.backgroundMarginDecibels = c.background_margin_db
        out.bargeIn.detector.endOfTurnMilliseconds = Int(clamping: c.end_of_turn_ms)
        guard let mode = BargeInArbiter.Mode(rawValue: c.barge_in_mode) else {
            LibraryLog.emit(.error, "ab_session_config: barge_in_mode \(c.barge_in_mode) is not an AB_BARGE_IN_MODE_* value")
            throw .invalidArgument
        }
        out.bargeIn.arbitration.mode = mode
        out.bargeIn.arbitration.confirmationMilliseconds = Int(clamping: c.confirm_ms)
        out.bargeIn.arbitration.maximumPauseMilliseconds = Int(clamping: c.max_pause_ms)
        return out
    }
}
