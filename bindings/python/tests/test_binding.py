# SPDX-License-Identifier: MIT
"""The ctypes binding against the header and the library: G.711 against the ITU-T vectors,
resampling, and a session with barge-in, all through the C ABI."""
import ctypes
import math
import re
from pathlib import Path

import pytest

import audiobridge as ab

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "Tests" / "Vectors" / "g711"
HEADER = (ROOT / "include" / "audiobridge.h").read_text()


def buffer(ctype, values):
    return (ctype * len(values))(*values)


# ---- the binding mirrors the header ------------------------------------------------------------

def test_every_header_function_is_bound_with_its_arity():
    declared = {}
    for match in re.finditer(r"^[a-z].*?\b(ab_[a-z0-9_]+)\((.*?)\);", HEADER, re.S | re.M):
        params = match.group(2).strip()
        declared[match.group(1)] = 0 if params in ("void", "") else params.count(",") + 1
    assert declared, "parsed the header"
    assert set(declared) == set(ab.PROTOTYPES)
    for name, arity in declared.items():
        assert len(ab.PROTOTYPES[name][1]) == arity, name


def test_every_header_constant_has_the_same_value():
    constants = dict(re.findall(r"^\s*(AB_[A-Z0-9_]+) = (-?\d+)", HEADER, re.M))
    constants.update(re.findall(r"^#define (AB_[A-Z0-9_]+) (-?\d+)", HEADER, re.M))
    assert len(constants) > 30
    for name, value in constants.items():
        assert getattr(ab, name) == int(value), name


def test_struct_sizes_match_the_library():
    engine_config, session_config = ab.ab_engine_config(), ab.ab_session_config()
    ab.check(ab.ab_engine_config_init(ctypes.byref(engine_config)))
    ab.check(ab.ab_session_config_init(ctypes.byref(session_config)))
    assert engine_config.struct_size == ctypes.sizeof(ab.ab_engine_config)
    assert session_config.struct_size == ctypes.sizeof(ab.ab_session_config)
    assert ctypes.sizeof(ab.ab_event) == 64
    assert ctypes.sizeof(ab.ab_transport_ops) == 8 + 8 * 7
    rtp_config = ab.ab_rtp_config()
    ab.check(ab.ab_rtp_config_init(ctypes.byref(rtp_config)))
    assert rtp_config.struct_size == ctypes.sizeof(ab.ab_rtp_config) == 48
    assert rtp_config.abi_version == ab.AB_ABI_VERSION
    assert ctypes.sizeof(ab.ab_rtp_stats) == 8 + 8 * 4 + 8 + 8 * 8 + 8 + 8 * 10


def test_the_log_handler_names_what_was_refused():
    messages = []
    handler = ab.ab_log_fn(lambda user, level, message: messages.append((level, message.decode())))
    ab.check(ab.ab_set_log_handler(handler, None, ab.AB_LOG_DEBUG))
    try:
        engine = ab.ab_engine_p()
        ab.check(ab.ab_engine_create(None, ctypes.byref(engine)))
        config = ab.ab_session_config()
        ab.check(ab.ab_session_config_init(ctypes.byref(config)))
        config.agent_rate_hz = 44100
        session = ab.ab_session_p()
        assert ab.ab_session_create(engine, ctypes.byref(config), ctypes.byref(session)) == ab.AB_E_UNSUPPORTED_SAMPLE_RATE
        assert (ab.AB_LOG_ERROR, "ab_session_create: agent rate 44100 Hz is not one of [8000, 16000, 24000]") in messages
        ab.ab_engine_destroy(engine)
        assert (ab.AB_LOG_INFO, "engine destroyed") in messages
    finally:
        ab.check(ab.ab_set_log_handler(ab.ab_log_fn(), None, ab.AB_LOG_ERROR))


def test_versions_and_errors():
    assert ab.ab_abi_version() == ab.AB_ABI_VERSION
    assert ab.ab_version_string() == b"0.1.0"
    assert ab.ab_strerror(ab.AB_OK) == b"ok"
    assert ab.ab_strerror(-999) == b"unknown status code"
    with pytest.raises(ab.AudioBridgeError) as error:
        ab.check(ab.AB_E_WRONG_FRAME_SIZE)
    assert "frame size" in str(error.value)


# ---- G.711 against ../shared/vectors (the repository's copy) ------------------------------------

@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_g711_encodes_all_65536_samples_like_the_vectors(law):
    expected = (VECTORS / f"{law}_encode.bin").read_bytes()
    samples = (ctypes.c_int16 * 65536)(*[i - 65536 if i >= 32768 else i for i in range(65536)])
    codes = (ctypes.c_uint8 * 65536)()
    ab.check(getattr(ab, f"ab_{law}_encode")(samples, 65536, codes))
    assert bytes(codes) == expected


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_g711_decodes_all_256_codes_like_the_vectors(law):
    raw = (VECTORS / f"{law}_decode.bin").read_bytes()
    expected = [int.from_bytes(raw[2 * c:2 * c + 2], "little", signed=True) for c in range(256)]
    out = (ctypes.c_int16 * 256)()
    ab.check(getattr(ab, f"ab_{law}_decode")(buffer(ctypes.c_uint8, range(256)), 256, out))
    assert list(out) == expected


def test_transcoding_equals_decode_then_encode():
    ulaw_decode = (VECTORS / "ulaw_decode.bin").read_bytes()
    alaw_encode = (VECTORS / "alaw_encode.bin").read_bytes()
    out = (ctypes.c_uint8 * 256)()
    ab.check(ab.ab_ulaw_to_alaw(buffer(ctypes.c_uint8, range(256)), 256, out))
    for code in range(256):
        linear = int.from_bytes(ulaw_decode[2 * code:2 * code + 2], "little", signed=True)
        assert out[code] == alaw_encode[linear & 0xFFFF]


def test_g711_rejects_null_buffers():
    assert ab.ab_ulaw_encode(None, 160, (ctypes.c_uint8 * 160)()) == ab.AB_E_INVALID_ARGUMENT


# ---- resampling ---------------------------------------------------------------------------------

def resample(resampler, samples, chunk):
    out = []
    for start in range(0, len(samples), chunk):
        piece = samples[start:start + chunk]
        capacity = ctypes.c_size_t()
        ab.check(ab.ab_resampler_max_output(resampler, len(piece), ctypes.byref(capacity)))
        dest = (ctypes.c_int16 * capacity.value)()
        consumed, produced = ctypes.c_size_t(len(piece)), ctypes.c_size_t(capacity.value)
        ab.check(ab.ab_resampler_process(resampler, buffer(ctypes.c_int16, piece), ctypes.byref(consumed), dest, ctypes.byref(produced)))
        assert consumed.value == len(piece)
        out += dest[:produced.value]
    return out


def test_resampler_streams_exactly_and_keeps_the_level():
    tone = [int(10000 * math.sin(2 * math.pi * 1000 * n / 8000)) for n in range(8000)]
    outputs = []
    for chunk in (8000, 160):
        resampler = ab.ab_resampler_p()
        ab.check(ab.ab_resampler_create(8000, 24000, ab.AB_RESAMPLER_DEFAULT_QUALITY, ctypes.byref(resampler)))
        outputs.append(resample(resampler, tone, chunk))
        ab.ab_resampler_destroy(resampler)
    assert outputs[0] == outputs[1]
    assert 23800 < len(outputs[0]) <= 24000
    assert 9500 < max(abs(s) for s in outputs[0][1000:]) < 10500


def test_resampler_rejects_bad_rates_and_qualities_at_creation():
    resampler = ab.ab_resampler_p()
    assert ab.ab_resampler_create(11025, 8000, 4, ctypes.byref(resampler)) == ab.AB_E_UNSUPPORTED_SAMPLE_RATE
    assert ab.ab_resampler_create(8000, 24000, 11, ctypes.byref(resampler)) == ab.AB_E_UNSUPPORTED_QUALITY
    assert not resampler.value


# ---- a session with barge-in --------------------------------------------------------------------

@pytest.fixture
def engine():
    config = ab.ab_engine_config()
    ab.check(ab.ab_engine_config_init(ctypes.byref(config)))
    config.own_thread = 0
    handle = ab.ab_engine_p()
    ab.check(ab.ab_engine_create(ctypes.byref(config), ctypes.byref(handle)))
    yield handle
    ab.ab_engine_destroy(handle)


def make_session(engine, **fields):
    config = ab.ab_session_config()
    ab.check(ab.ab_session_config_init(ctypes.byref(config)))
    # The tests queue a whole 3 s answer at once and read no uplink, where a host offers the
    # rest again under back-pressure and reads every turn: room for that (defaults 2 s, 500 ms).
    config.playout_capacity_ms = 5000
    config.uplink_capacity_ms = 5000
    for name, value in fields.items():
        setattr(config, name, value)
    session = ab.ab_session_p()
    ab.check(ab.ab_session_create(engine, ctypes.byref(config), ctypes.byref(session)))
    return session


def events(session):
    out, event = [], ab.ab_event()
    while ab.check(ab.ab_session_poll_event(session, ctypes.byref(event))) == 1:
        out.append((event.kind, event.item, event.heard_samples, event.code, event.timestamp_ms))
    return out


def pcm(values):
    return (ctypes.c_int16 * len(values))(*values)


def run_call(session, talk_frames, frames, agent_samples=24000):
    """The agent queues a 440 Hz answer (item 3); the caller is silent for 50 frames (the
    detector learns the line), talks (a 300 Hz tone) for talk_frames, then is silent. Returns the
    events and what was heard."""
    agent = pcm([int(6000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(agent_samples)])
    accepted = ctypes.c_size_t()
    ab.check(ab.ab_session_write_downlink(session, 3, agent, ctypes.sizeof(agent), ctypes.byref(accepted)))
    assert accepted.value == ctypes.sizeof(agent)
    ab.check(ab.ab_session_end_item(session, 3))
    heard = (ctypes.c_int16 * 160)()
    written = ctypes.c_size_t()
    silence = pcm([0] * 160)
    log, played = [], []
    for frame in range(frames):
        talking = 50 <= frame < 50 + talk_frames
        caller = pcm([int(12000 * math.sin(2 * math.pi * 300 * (frame * 160 + n) / 8000)) for n in range(160)]) if talking else silence
        ab.check(ab.ab_session_write_caller(session, caller, 320))
        ab.check(ab.ab_session_read_caller(session, heard, 320, ctypes.byref(written)))
        assert written.value == 320
        played += list(heard)
        log += events(session)
    return log, played, list(agent)


def session_stats(session):
    stats = ab.ab_session_stats(struct_size=ctypes.sizeof(ab.ab_session_stats))
    ab.check(ab.ab_session_get_stats(session, ctypes.byref(stats)))
    assert stats.struct_size == ctypes.sizeof(ab.ab_session_stats)
    return stats


def test_session_barge_in_pauses_then_commits_at_the_exact_heard_position(engine):
    session = make_session(engine, phone_codec=ab.AB_CODEC_SLIN16, agent_rate_hz=8000)
    log, played, _ = run_call(session, talk_frames=30, frames=90)
    kinds = [e[0] for e in log]
    assert kinds[:4] == [ab.AB_EVENT_PLAYOUT_STARTED, ab.AB_EVENT_SPEECH_STARTED, ab.AB_EVENT_BARGE_IN_PENDING, ab.AB_EVENT_BARGE_IN]
    _, _, paused_at, _, pause_time = log[2]
    _, item, heard_samples, code, timestamp = log[3]
    assert (item, code) == (3, ab.AB_BARGE_IN_CALLER_SPEECH)
    assert paused_at == (pause_time // 20 - 1) * 160 + 64  # whole frames before the pause + 8 ms fade
    assert heard_samples == paused_at, "the cut reports where the pause stopped"
    assert 220 <= timestamp - pause_time <= 280, "committed after the 240 ms confirmation time"
    assert all(sample == 0 for sample in played[paused_at:]), "nothing plays after the pause"
    stats = session_stats(session)
    assert (stats.barge_ins, stats.barge_in_pauses, stats.barge_in_resumes, stats.frames_in) == (1, 1, 0, 90)
    assert stats.downlink_discarded_samples == 24000 - heard_samples
    ab.ab_session_destroy(session)


def test_session_short_sound_pauses_and_resumes_where_it_paused(engine):
    session = make_session(engine, phone_codec=ab.AB_CODEC_SLIN16, agent_rate_hz=8000)
    log, played, agent = run_call(session, talk_frames=7, frames=240, agent_samples=16000)
    kinds = [e[0] for e in log]
    assert ab.AB_EVENT_BARGE_IN not in kinds
    assert kinds.count(ab.AB_EVENT_BARGE_IN_PENDING) == 1 and kinds.count(ab.AB_EVENT_BARGE_IN_RESUMED) == 1
    pause = next(e for e in log if e[0] == ab.AB_EVENT_BARGE_IN_PENDING)
    resume = next(e for e in log if e[0] == ab.AB_EVENT_BARGE_IN_RESUMED)
    assert pause[2] == resume[2]
    paused_at, resume_frame = pause[2], resume[4] // 20 - 1
    assert played[:paused_at - 64] == agent[:paused_at - 64]
    start = resume_frame * 160 + 64
    assert played[start:start + len(agent) - paused_at - 64] == agent[paused_at + 64:], "bit-exact from the paused sample on"
    finished = [e for e in log if e[0] == ab.AB_EVENT_PLAYOUT_FINISHED]
    assert finished and finished[0][2] == len(agent)
    stats = session_stats(session)
    assert (stats.barge_ins, stats.barge_in_pauses, stats.barge_in_resumes, stats.downlink_discarded_samples) == (0, 1, 1, 0)
    # A host built against the first header passes the smaller stats struct: still served.
    small = ab.ab_session_stats(struct_size=ab.ab_session_stats.barge_in_pauses.offset)
    ab.check(ab.ab_session_get_stats(session, ctypes.byref(small)))
    assert (small.struct_size, small.frames_in, small.barge_in_pauses) == (ab.ab_session_stats.barge_in_pauses.offset, 240, 0)
    too_small = ab.ab_session_stats(struct_size=16)
    assert ab.ab_session_get_stats(session, ctypes.byref(too_small)) == ab.AB_E_ABI_MISMATCH
    ab.check(ab.ab_session_confirm_barge_in(session))
    assert ab.ab_session_confirm_barge_in(None) == ab.AB_E_INVALID_ARGUMENT
    ab.ab_session_destroy(session)


def test_session_immediate_mode_cuts_without_a_pause(engine):
    session = make_session(engine, phone_codec=ab.AB_CODEC_SLIN16, agent_rate_hz=8000,
                           barge_in_mode=ab.AB_BARGE_IN_MODE_IMMEDIATE)
    log, _, _ = run_call(session, talk_frames=20, frames=80)
    kinds = [e[0] for e in log]
    assert kinds[:3] == [ab.AB_EVENT_PLAYOUT_STARTED, ab.AB_EVENT_SPEECH_STARTED, ab.AB_EVENT_BARGE_IN]
    assert ab.AB_EVENT_BARGE_IN_PENDING not in kinds
    bad = ab.ab_session_config()
    ab.ab_session_config_init(ctypes.byref(bad))
    assert (bad.barge_in_mode, bad.confirm_ms, bad.max_pause_ms) == (ab.AB_BARGE_IN_MODE_PAUSE, 240, 1000)
    for field, value in (("barge_in_mode", 7), ("confirm_ms", 2001), ("max_pause_ms", 100)):
        config = ab.ab_session_config()
        ab.ab_session_config_init(ctypes.byref(config))
        setattr(config, field, value)
        other = ab.ab_session_p()
        assert ab.ab_session_create(engine, ctypes.byref(config), ctypes.byref(other)) == ab.AB_E_INVALID_ARGUMENT
    ab.ab_session_destroy(session)


def test_bad_input_through_the_abi_leaves_the_session_working(engine):
    session = make_session(engine)
    frame = (ctypes.c_uint8 * 400)()
    for size in (0, 159, 161, 320):
        assert ab.ab_session_write_caller(session, frame, size) == ab.AB_E_WRONG_FRAME_SIZE
    assert ab.ab_session_write_caller(None, frame, 160) == ab.AB_E_INVALID_ARGUMENT
    assert ab.ab_session_read_caller(session, frame, 10, ctypes.byref(ctypes.c_size_t())) == ab.AB_E_BUFFER_TOO_SMALL
    assert ab.ab_session_caller_dtmf(session, b"z") == ab.AB_E_INVALID_ARGUMENT
    bad = ab.ab_session_config()
    ab.ab_session_config_init(ctypes.byref(bad))
    bad.frame_ms = 7
    other = ab.ab_session_p()
    assert ab.ab_session_create(engine, ctypes.byref(bad), ctypes.byref(other)) == ab.AB_E_INVALID_FRAME_DURATION
    ab.check(ab.ab_session_write_caller(session, frame, 160))
    ab.check(ab.ab_session_caller_dtmf(session, b"7"))
    assert [e[0] for e in events(session)] == [ab.AB_EVENT_DTMF]
    ab.ab_session_destroy(session)


def test_a_python_transport_and_the_echo_agent(engine):
    session = make_session(engine)
    seen = {"calls": [], "uplink": 0}

    @ab.ab_transport_send_audio_fn
    def send_audio(user, audio, size):
        seen["uplink"] += size
        return 0

    @ab.ab_transport_close_fn
    def close(user):
        seen["calls"].append("close")

    @ab.ab_transport_detached_fn
    def detached(user):
        seen["calls"].append("detached")

    ops = ab.ab_transport_ops(struct_size=ctypes.sizeof(ab.ab_transport_ops), abi_version=ab.AB_ABI_VERSION,
                              send_audio=send_audio, close=close, detached=detached)
    ab.check(ab.ab_session_attach_transport(session, ctypes.byref(ops)))
    frame, out, written = (ctypes.c_uint8 * 160)(*[0xFF] * 160), (ctypes.c_uint8 * 160)(), ctypes.c_size_t()
    for _ in range(5):
        ab.check(ab.ab_session_write_caller(session, frame, 160))
        ab.check(ab.ab_engine_service(engine))
        ab.check(ab.ab_session_read_caller(session, out, 160, ctypes.byref(written)))
    assert seen["uplink"] == 5 * 480 * 2
    ab.check(ab.ab_session_detach_transport(session))
    assert seen["calls"] == ["close", "detached"]
    assert ab.ab_session_attach_agent(session, b"nonsense") == ab.AB_E_INVALID_ARGUMENT
    ab.check(ab.ab_session_attach_agent(session, b"echo"))
    ab.ab_session_destroy(session)


# ---- RTP and SRTP through the C ABI -------------------------------------------------------------

def make_rtp(session, **fields):
    config = ab.ab_rtp_config()
    ab.check(ab.ab_rtp_config_init(ctypes.byref(config)))
    assert config.struct_size == ctypes.sizeof(ab.ab_rtp_config)
    for name, value in fields.items():
        setattr(config, name, value)
    rtp = ab.ab_rtp_p()
    status = ab.ab_rtp_create(session, ctypes.byref(config), ctypes.byref(rtp))
    return status, rtp


def rtp_stats(rtp):
    stats = ab.ab_rtp_stats(struct_size=ctypes.sizeof(ab.ab_rtp_stats))
    ab.check(ab.ab_rtp_get_stats(rtp, ctypes.byref(stats)))
    return stats


def test_two_rtp_endpoints_talk_over_srtp(engine):
    """A's agent audio goes out as SRTP, B takes it in and hands it to its agent side; a tampered
    packet and a replay are refused with AB_E_PROTOCOL and counted; a digit sent by A arrives at
    B as one DTMF event."""
    key_a, key_b = b"inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31", b"HRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgEA"
    a_session = make_session(engine, phone_codec=ab.AB_CODEC_ULAW, agent_rate_hz=8000, barge_in_enabled=0)
    b_session = make_session(engine, phone_codec=ab.AB_CODEC_ULAW, agent_rate_hz=8000, barge_in_enabled=0)
    assert make_rtp(a_session, payload_type=8)[0] == ab.AB_E_UNSUPPORTED_CODEC
    assert make_rtp(a_session, srtp_profile=ab.AB_SRTP_AES128_CM_HMAC_SHA1_80, srtp_send_key=b"not base64")[0] == ab.AB_E_INVALID_ARGUMENT
    status, a = make_rtp(a_session, srtp_profile=ab.AB_SRTP_AES128_CM_HMAC_SHA1_80, srtp_send_key=key_a, srtp_receive_key=key_b)
    ab.check(status)
    status, b = make_rtp(b_session, srtp_profile=ab.AB_SRTP_AES128_CM_HMAC_SHA1_80, srtp_send_key=key_b, srtp_receive_key=key_a)
    ab.check(status)

    agent = pcm([int(7000 * math.sin(n * 0.1)) for n in range(8000)])
    accepted = ctypes.c_size_t()
    ab.check(ab.ab_session_write_downlink(a_session, 1, agent, ctypes.sizeof(agent), ctypes.byref(accepted)))
    packet = (ctypes.c_uint8 * ab.AB_RTP_MAX_PACKET)()
    written = ctypes.c_size_t()
    uplink = (ctypes.c_int16 * 4000)()
    got = ctypes.c_size_t()
    received = []
    for frame in range(50):
        now = frame * 20_000
        ab.check(ab.ab_rtp_tick(a, now, packet, ctypes.sizeof(packet), ctypes.byref(written)))
        # Audio, except while the digit's 200 ms go out: 9 updates and the end three times.
        assert written.value == (12 + 4 + 10 if 31 <= frame <= 42 else 12 + 160 + 10)
        if frame == 20:
            tampered = (ctypes.c_uint8 * written.value).from_buffer_copy(bytes(packet)[:written.value])
            tampered[30] ^= 0x40
            assert ab.ab_rtp_receive(b, tampered, written.value, now) == ab.AB_E_PROTOCOL
        ab.check(ab.ab_rtp_receive(b, packet, written.value, now))
        if frame == 20:
            assert ab.ab_rtp_receive(b, packet, written.value, now) == ab.AB_E_PROTOCOL
        if frame == 30:
            ab.check(ab.ab_rtp_send_digit(a, b"5", 200))
        ab.check(ab.ab_rtp_tick(b, now, packet, ctypes.sizeof(packet), ctypes.byref(written)))
        ab.check(ab.ab_session_read_uplink(b_session, uplink, ctypes.sizeof(uplink), ctypes.byref(got)))
        received += list(uplink[:got.value // 2])
    assert max(abs(x) for x in received) > 5000, "A's agent audio reached B's agent side"
    assert (ab.AB_EVENT_DTMF, 0, 0, 0) in [(k, i, h, c) for k, i, h, c, _ in events(b_session)]
    stats = rtp_stats(b)
    assert (stats.srtp_auth_failures, stats.srtp_replays, stats.digits_received) == (1, 1, 1)
    assert stats.packets_received == 50 and stats.cumulative_lost <= 0
    assert rtp_stats(a).digits_sent == 1
    for handle in (a, b):
        ab.ab_rtp_destroy(handle)
    ab.ab_session_destroy(a_session)
    ab.ab_session_destroy(b_session)


def test_srtp_contexts_alone():
    sender, receiver = ab.ab_srtp_p(), ab.ab_srtp_p()
    key = b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
    assert ab.ab_srtp_create(7, key, ctypes.byref(sender)) == ab.AB_E_INVALID_ARGUMENT
    ab.check(ab.ab_srtp_create(ab.AB_SRTP_AES128_CM_HMAC_SHA1_32, key, ctypes.byref(sender)))
    ab.check(ab.ab_srtp_create(ab.AB_SRTP_AES128_CM_HMAC_SHA1_32, key, ctypes.byref(receiver)))
    plain = bytes([0x80, 0x00, 0x12, 0x34, 0, 0, 0, 160, 1, 2, 3, 4]) + bytes(range(160))
    buf = (ctypes.c_uint8 * 200).from_buffer_copy(plain + bytes(28))
    written = ctypes.c_size_t()
    assert ab.ab_srtp_protect(sender, buf, len(plain), len(plain) + 3, ctypes.byref(written)) == ab.AB_E_BUFFER_TOO_SMALL
    ab.check(ab.ab_srtp_protect(sender, buf, len(plain), 200, ctypes.byref(written)))
    assert written.value == len(plain) + 4 and bytes(buf)[12:172] != plain[12:]
    ab.check(ab.ab_srtp_unprotect(receiver, buf, written.value, ctypes.byref(written)))
    assert bytes(buf)[:written.value] == plain
    ab.ab_srtp_destroy(sender)
    ab.ab_srtp_destroy(receiver)
