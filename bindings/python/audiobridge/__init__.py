# SPDX-License-Identifier: MIT
"""ctypes binding for libaudiobridge: a one-to-one mirror of include/audiobridge.h.

Every ``ab_*`` function, struct and constant of the header appears here under the same name,
with the same arguments and the same integer status codes; nothing is compiled. The library is
found through ``AUDIOBRIDGE_LIBRARY`` (a path), then the system's library path. Thread and
realtime rules are the header's: see its comments.

    import audiobridge as ab
    engine = ctypes.c_void_p()
    ab.check(ab.ab_engine_create(None, ctypes.byref(engine)))
"""
import ctypes
import ctypes.util
import os

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_float, c_int, c_int16, c_int32, c_int64,
                    c_size_t, c_uint8, c_uint32, c_uint64, c_void_p)


def _load():
    path = os.environ.get("AUDIOBRIDGE_LIBRARY") or ctypes.util.find_library("audiobridge")
    if not path:
        raise OSError("libaudiobridge not found: set AUDIOBRIDGE_LIBRARY to its path")
    return ctypes.CDLL(path)


lib = _load()

# ---- Library -----------------------------------------------------------------------------------

AB_ABI_VERSION = 1
AB_VERSION_MAJOR, AB_VERSION_MINOR, AB_VERSION_PATCH = 0, 1, 0

AB_OK = 0
AB_E_INVALID_ARGUMENT = -1
AB_E_UNSUPPORTED_SAMPLE_RATE = -2
AB_E_UNSUPPORTED_QUALITY = -3
AB_E_OUT_OF_MEMORY = -4
AB_E_BUFFER_TOO_SMALL = -5
AB_E_INTERNAL = -6
AB_E_WRONG_FRAME_SIZE = -7
AB_E_UNSUPPORTED_CODEC = -8
AB_E_INVALID_FRAME_DURATION = -9
AB_E_ABI_MISMATCH = -10
AB_E_INVALID_STATE = -11
AB_E_WOULD_BLOCK = -12
AB_E_PROTOCOL = -13

AB_RESAMPLER_DEFAULT_QUALITY = 4

AB_CODEC_ULAW, AB_CODEC_ALAW, AB_CODEC_SLIN16 = 0, 1, 2
AB_AGENT_PCM16, AB_AGENT_G711_PASSTHROUGH = 0, 1

AB_EVENT_SPEECH_STARTED = 1
AB_EVENT_SPEECH_STOPPED = 2
AB_EVENT_BARGE_IN = 3
AB_EVENT_PLAYOUT_STARTED = 4
AB_EVENT_PLAYOUT_FINISHED = 5
AB_EVENT_DTMF = 6
AB_EVENT_TRANSPORT_CONNECTED = 7
AB_EVENT_TRANSPORT_DISCONNECTED = 8
AB_EVENT_TRANSPORT_ERROR = 9
AB_EVENT_UPLINK_OVERFLOW = 10
AB_EVENT_EVENTS_DROPPED = 11
AB_EVENT_BARGE_IN_PENDING = 12
AB_EVENT_BARGE_IN_RESUMED = 13
AB_EVENT_HANGUP_REQUESTED = 14
AB_EVENT_TRANSFER_REQUESTED = 15

AB_BARGE_IN_CALLER_SPEECH = 0
AB_BARGE_IN_INTERRUPT = 1
AB_BARGE_IN_MODE_IMMEDIATE = 0
AB_BARGE_IN_MODE_PAUSE = 1


class ab_engine_config(Structure):
    _fields_ = [("struct_size", c_uint32), ("abi_version", c_uint32), ("tick_ms", c_uint32), ("own_thread", c_uint32)]


class ab_session_config(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("abi_version", c_uint32), ("phone_codec", c_uint32), ("frame_ms", c_uint32),
        ("agent_format", c_uint32), ("agent_rate_hz", c_uint32), ("resampler_quality", c_int32),
        ("playout_capacity_ms", c_uint32), ("uplink_capacity_ms", c_uint32), ("event_capacity", c_uint32),
        ("barge_in_enabled", c_uint32), ("fade_ms", c_uint32), ("min_speech_ms", c_uint32), ("hangover_ms", c_uint32),
        ("threshold_db", c_float), ("min_level_dbfs", c_float), ("echo_rejection_db", c_float),
        ("agent_talking_extra_db", c_float), ("background_margin_db", c_float), ("end_of_turn_ms", c_uint32),
        ("barge_in_mode", c_uint32), ("confirm_ms", c_uint32), ("max_pause_ms", c_uint32),
    ]


class ab_event(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("kind", c_uint32), ("code", c_int32), ("heard_ms", c_uint32),
        ("digit", c_char), ("reserved0", c_uint8 * 7),
        ("item", c_uint64), ("heard_samples", c_uint64), ("count", c_uint64), ("timestamp_ms", c_uint64),
        ("sequence", c_uint64),
    ]

    def __init__(self, **fields):
        # The library writes at most struct_size bytes: the host says how large its struct is.
        super().__init__(struct_size=ctypes.sizeof(ab_event), **fields)


class ab_session_stats(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("reserved", c_uint32), ("frames_in", c_uint64), ("frames_out", c_uint64),
        ("underrun_frames", c_uint64), ("uplink_dropped_samples", c_uint64), ("downlink_discarded_samples", c_uint64),
        ("barge_ins", c_uint64), ("events_dropped", c_uint64), ("agent_events_dropped", c_uint64),
        ("buffer_bytes", c_uint64), ("barge_in_pauses", c_uint64), ("barge_in_resumes", c_uint64),
    ]


AB_SRTP_NONE = 0
AB_SRTP_AES128_CM_HMAC_SHA1_80 = 1
AB_SRTP_AES128_CM_HMAC_SHA1_32 = 2
AB_RTP_MAX_PACKET = 1500
AB_RTP_SLIN_DEFAULT_PT = 10

AB_LOG_ERROR, AB_LOG_WARNING, AB_LOG_INFO, AB_LOG_DEBUG = 0, 1, 2, 3
ab_log_fn = CFUNCTYPE(None, c_void_p, c_int, c_char_p)


class ab_rtp_config(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("abi_version", c_uint32), ("payload_type", c_uint32), ("telephone_event_pt", c_int32),
        ("ssrc", c_uint32), ("jitter_min_ms", c_uint32), ("jitter_max_ms", c_uint32), ("srtp_profile", c_int32),
        ("srtp_send_key", c_char_p), ("srtp_receive_key", c_char_p),
    ]


class ab_rtp_stats(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("fraction_lost", c_uint32), ("packets_received", c_uint64), ("packets_sent", c_uint64),
        ("cumulative_lost", c_int64), ("expected", c_uint64), ("extended_highest_seq", c_uint32), ("jitter_us", c_uint32),
        ("malformed", c_uint64), ("srtp_auth_failures", c_uint64), ("srtp_replays", c_uint64),
        ("unknown_payload_type", c_uint64), ("comfort_noise", c_uint64), ("digits_received", c_uint64),
        ("digits_sent", c_uint64), ("source_changes", c_uint64),
        ("jitter_buffer_delay_ms", c_uint32), ("jitter_buffer_target_ms", c_uint32),
        ("late", c_uint64), ("duplicates", c_uint64), ("too_early", c_uint64), ("frames_played", c_uint64),
        ("frames_concealed", c_uint64), ("frames_silent", c_uint64), ("frames_skipped", c_uint64),
        ("frames_repeated", c_uint64), ("resynchronisations", c_uint64), ("rtcp_packets", c_uint64),
    ]


ab_transport_attached_fn = CFUNCTYPE(None, c_void_p, c_void_p)
ab_transport_send_audio_fn = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
ab_transport_on_event_fn = CFUNCTYPE(None, c_void_p, POINTER(ab_event))
ab_transport_poll_fn = CFUNCTYPE(None, c_void_p, c_void_p)
ab_transport_close_fn = CFUNCTYPE(None, c_void_p)
ab_transport_detached_fn = CFUNCTYPE(None, c_void_p)


class ab_transport_ops(Structure):
    _fields_ = [
        ("struct_size", c_uint32), ("abi_version", c_uint32), ("user", c_void_p),
        ("attached", ab_transport_attached_fn), ("send_audio", ab_transport_send_audio_fn),
        ("on_event", ab_transport_on_event_fn), ("poll", ab_transport_poll_fn),
        ("close", ab_transport_close_fn), ("detached", ab_transport_detached_fn),
    ]


# Handles are opaque pointers.
ab_resampler_p = c_void_p
ab_engine_p = c_void_p
ab_session_p = c_void_p
ab_rtp_p = c_void_p
ab_srtp_p = c_void_p

# name: (restype, argtypes) — in header order.
PROTOTYPES = {
    "ab_version": (c_uint32, []),
    "ab_version_string": (c_char_p, []),
    "ab_abi_version": (c_int, []),
    "ab_strerror": (c_char_p, [c_int]),
    "ab_set_log_handler": (c_int, [ab_log_fn, c_void_p, c_int]),
    "ab_ulaw_encode": (c_int, [POINTER(c_int16), c_size_t, POINTER(c_uint8)]),
    "ab_ulaw_decode": (c_int, [POINTER(c_uint8), c_size_t, POINTER(c_int16)]),
    "ab_alaw_encode": (c_int, [POINTER(c_int16), c_size_t, POINTER(c_uint8)]),
    "ab_alaw_decode": (c_int, [POINTER(c_uint8), c_size_t, POINTER(c_int16)]),
    "ab_ulaw_to_alaw": (c_int, [POINTER(c_uint8), c_size_t, POINTER(c_uint8)]),
    "ab_alaw_to_ulaw": (c_int, [POINTER(c_uint8), c_size_t, POINTER(c_uint8)]),
    "ab_resampler_create": (c_int, [c_uint32, c_uint32, c_int, POINTER(ab_resampler_p)]),
    "ab_resampler_process": (c_int, [ab_resampler_p, POINTER(c_int16), POINTER(c_size_t), POINTER(c_int16), POINTER(c_size_t)]),
    "ab_resampler_max_output": (c_int, [ab_resampler_p, c_size_t, POINTER(c_size_t)]),
    "ab_resampler_latency": (c_int, [ab_resampler_p, POINTER(c_uint32), POINTER(c_uint32)]),
    "ab_resampler_reset": (c_int, [ab_resampler_p]),
    "ab_resampler_destroy": (None, [ab_resampler_p]),
    "ab_engine_config_init": (c_int, [POINTER(ab_engine_config)]),
    "ab_engine_create": (c_int, [POINTER(ab_engine_config), POINTER(ab_engine_p)]),
    "ab_engine_service": (c_int, [ab_engine_p]),
    "ab_engine_destroy": (None, [ab_engine_p]),
    "ab_session_config_init": (c_int, [POINTER(ab_session_config)]),
    "ab_session_create": (c_int, [ab_engine_p, POINTER(ab_session_config), POINTER(ab_session_p)]),
    "ab_session_destroy": (None, [ab_session_p]),
    "ab_session_frame_bytes": (c_int, [ab_session_p, POINTER(c_size_t)]),
    "ab_session_write_caller": (c_int, [ab_session_p, c_void_p, c_size_t]),
    "ab_session_read_caller": (c_int, [ab_session_p, c_void_p, c_size_t, POINTER(c_size_t)]),
    "ab_session_caller_dtmf": (c_int, [ab_session_p, c_char]),
    "ab_session_write_downlink": (c_int, [ab_session_p, c_uint64, c_void_p, c_size_t, POINTER(c_size_t)]),
    "ab_session_end_item": (c_int, [ab_session_p, c_uint64]),
    "ab_session_request_hangup": (c_int, [ab_session_p]),
    "ab_session_request_transfer": (c_int, [ab_session_p, c_uint64]),
    "ab_session_read_uplink": (c_int, [ab_session_p, c_void_p, c_size_t, POINTER(c_size_t)]),
    "ab_session_interrupt": (c_int, [ab_session_p]),
    "ab_session_confirm_barge_in": (c_int, [ab_session_p]),
    "ab_session_poll_event": (c_int, [ab_session_p, POINTER(ab_event)]),
    "ab_session_poll_agent_event": (c_int, [ab_session_p, POINTER(ab_event)]),
    "ab_session_get_stats": (c_int, [ab_session_p, POINTER(ab_session_stats)]),
    "ab_session_attach_transport": (c_int, [ab_session_p, POINTER(ab_transport_ops)]),
    "ab_session_attach_agent": (c_int, [ab_session_p, c_char_p]),
    "ab_session_detach_transport": (c_int, [ab_session_p]),
    "ab_rtp_config_init": (c_int, [POINTER(ab_rtp_config)]),
    "ab_rtp_create": (c_int, [ab_session_p, POINTER(ab_rtp_config), POINTER(ab_rtp_p)]),
    "ab_rtp_destroy": (None, [ab_rtp_p]),
    "ab_rtp_receive": (c_int, [ab_rtp_p, c_void_p, c_size_t, c_uint64]),
    "ab_rtp_tick": (c_int, [ab_rtp_p, c_uint64, c_void_p, c_size_t, POINTER(c_size_t)]),
    "ab_rtp_send_digit": (c_int, [ab_rtp_p, c_char, c_uint32]),
    "ab_rtp_get_stats": (c_int, [ab_rtp_p, POINTER(ab_rtp_stats)]),
    "ab_srtp_create": (c_int, [c_int, c_char_p, POINTER(ab_srtp_p)]),
    "ab_srtp_destroy": (None, [ab_srtp_p]),
    "ab_srtp_protect": (c_int, [ab_srtp_p, c_void_p, c_size_t, c_size_t, POINTER(c_size_t)]),
    "ab_srtp_unprotect": (c_int, [ab_srtp_p, c_void_p, c_size_t, POINTER(c_size_t)]),
}

for _name, (_restype, _argtypes) in PROTOTYPES.items():
    _function = getattr(lib, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes
    globals()[_name] = _function


class AudioBridgeError(Exception):
    """A negative status code from the library, with its ab_strerror text."""

    def __init__(self, status):
        self.status = status
        super().__init__(f"{ab_strerror(status).decode()} ({status})")


def check(status):
    """Returns a non-negative status; raises AudioBridgeError for a negative one."""
    if status < 0:
        raise AudioBridgeError(status)
    return status
