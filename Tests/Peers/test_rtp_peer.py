# SPDX-License-Identifier: MIT
"""The RTP external-media mode against ffmpeg, an independent RTP implementation: ffmpeg streams
the sample WAV as PCMU RTP to `serve --rtp` in real time, another ffmpeg receives the bridge's
RTP (described by an SDP file) into a WAV. With the echo agent the caller's words come back, so
what ffmpeg received must be the caller's audio, sample for sample — in 20 ms packets and in
ffmpeg's own default packet sizes. Then RFC 4733 key presses, written here from the RFC with
duplicated packets and triple ends, must arrive once each."""
import shutil
import socket
import struct
import subprocess
import time
import wave

from peers import BIN, ROOT, read_ulaw_wav, running, ulaw_decode

SAMPLE = ROOT / "samples" / "caller-ulaw-8k.wav"


def free_port_pair() -> int:
    """An even UDP port whose successor is free too (ffmpeg takes port+1 for RTCP)."""
    for _ in range(100):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1] & ~1
        probe.close()
        try:
            sockets = []
            for p in (port, port + 1):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("127.0.0.1", p))
                sockets.append(s)
            for s in sockets:
                s.close()
            return port
        except OSError:
            for s in sockets:
                s.close()
    raise AssertionError("no free UDP port pair")


def telephone_event_packets(event: int, seq: int, timestamp: int, ssrc: int):
    """One key press as RFC 4733 §2.5 has a sender do it: marker on the first packet, updates every
    20 ms with the duration so far, the end packet three times; all at the event's timestamp."""
    packets = []
    for i, (duration, end) in enumerate([(160, False), (320, False), (480, False), (640, True), (640, True), (640, True)]):
        header = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | 101, (seq + i) & 0xFFFF, timestamp, ssrc)
        packets.append(header + struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration))
    return packets


def stream_through_the_bridge(tmp_path, source_filter, after_stream=None, extra_args=()):
    """ffmpeg streams the sample as PCMU RTP through `serve --rtp --agent echo` while another
    ffmpeg records what the bridge sends back. `after_stream(server, port)` runs before the
    server stops. Returns (what ffmpeg received, the server's RTP summary match)."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is the independent RTP peer (make deps installs it)"
    bridge_port, listen_port = free_port_pair(), free_port_pair()
    sdp = tmp_path / "bridge.sdp"
    sdp.write_text(f"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=audiobridge\nc=IN IP4 127.0.0.1\nt=0 0\n"
                   f"m=audio {listen_port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\n")
    heard_path = tmp_path / "heard.wav"
    args = [BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--rtp", f"127.0.0.1:{bridge_port}",
            "--rtp-remote", f"127.0.0.1:{listen_port}", "--agent", "echo", "--no-barge-in",
            # One call throughout: the key presses come ~12 s after the stream, past the default idle end.
            "--rtp-idle-seconds", "60", *extra_args]
    with running(args) as server:
        server.wait_for(r"RTP listening on")
        receiver = subprocess.Popen([ffmpeg, "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp",
                                     "-i", str(sdp), "-t", "19", "-c:a", "pcm_s16le", "-y", str(heard_path)],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(1)
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", source_filter,
                        "-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1",
                        "-f", "rtp", f"rtp://127.0.0.1:{bridge_port}"], check=True, timeout=40, capture_output=True)
        output, _ = receiver.communicate(timeout=40)
        assert receiver.returncode == 0, output
        if after_stream:
            after_stream(server, bridge_port)
        server.stop()
        summary = server.wait_for(r"RTP (\d+) packets in, (\d+) out, (-?\d+) lost, .*, (\d+) late, (\d+) frames concealed, (\d+) digits, (\d+) refused")
    with wave.open(str(heard_path)) as recording:
        assert (recording.getframerate(), recording.getnchannels()) == (8000, 1)
        heard = list(struct.unpack(f"<{recording.getnframes()}h", recording.readframes(recording.getnframes())))
    return heard, summary


def exact_runs(heard, caller, start):
    """Where what was heard is, sample for sample, the caller's audio: (heard index, caller offset,
    length) of each stretch of at least 160 samples, in order. A stretch goes on at the previous
    one's alignment when it can, so silence is not matched to silence elsewhere."""
    index = {}
    for offset in range(len(caller) - 160):
        index.setdefault(tuple(caller[offset:offset + 32]), []).append(offset)
    runs, i, shift = [], start, None
    while i <= len(heard) - 160:
        window = heard[i:i + 160]
        candidates = [i - shift] if shift is not None and 0 <= i - shift <= len(caller) - 160 and caller[i - shift:i - shift + 160] == window else []
        if not candidates and any(window):
            candidates = [o for o in index.get(tuple(heard[i:i + 32]), []) if caller[o:o + 160] == window]
        if not candidates:
            i += 1
            continue
        offset, length = candidates[0], 0
        while i + length < len(heard) and offset + length < len(caller) and heard[i + length] == caller[offset + length]:
            length += 1
        runs.append((i, offset, length))
        shift, i = i - offset, i + length
    return runs


def assert_echo_is_the_caller(heard, identical=0.999, concealed_frames=None):
    """From where the echo starts in what was received, it is the caller's audio sample for
    sample (at least the fraction `identical`), in stretches whose alignment may move only by
    whole 20 ms frames: the jitter buffer grows or shrinks its delay a frame at a time. With
    `concealed_frames` (the bridge's count), the samples outside those stretches must also fit in
    what those frames can change: each concealed frame (160 samples) and the 40-sample crossfade
    into the frame after it, plus the 40-sample fade-in where the echo starts."""
    caller = [ulaw_decode(code) for code in read_ulaw_wav(SAMPLE)]
    start = next(i for i, sample in enumerate(heard) if sample != 0)
    runs = exact_runs(heard, caller, start)
    assert runs, "a stretch of what was received is found, exactly, in what was sent"
    shifts = [i - offset for i, offset, _ in runs]
    assert all((shift - shifts[0]) % 160 == 0 for shift in shifts), f"alignments move by whole frames: {runs}"
    end = runs[-1][0] + runs[-1][2]
    compared = end - start
    equal = sum(length for _, _, length in runs)
    assert equal >= 6 * 8000, f"{equal / 8000:.1f} s of echo found"
    assert equal / compared >= identical, f"{equal} of {compared} samples identical ({len(runs)} stretches)"
    if concealed_frames is not None:
        assert compared - equal <= 40 + concealed_frames * (160 + 40), \
            f"{compared - equal} samples differ, more than {concealed_frames} concealed frames explain"
    else:
        assert len(set(shifts)) == 1, f"one alignment throughout when nothing was concealed: {runs}"


def test_ffmpeg_streams_a_call_through_the_rtp_mode(tmp_path):
    def press_keys(server, port):
        # Key presses from another source, each packet sent twice.
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        seq, timestamp = 30_000, 1_000_000
        for event in (1, 11, 9):
            for packet in telephone_event_packets(event, seq, timestamp, 0xD7F0):
                sender.sendto(packet, ("127.0.0.1", port))
                sender.sendto(packet, ("127.0.0.1", port))
                time.sleep(0.02)
            seq, timestamp = seq + 6, timestamp + 8000
        sender.close()
        server.wait_for(r"digit=9 .*dtmf")
        digits = [line.split("digit=")[1][0] for line in server.lines if "digit=" in line and line.endswith("dtmf")]
        assert digits == ["1", "#", "9"], server.lines[-20:]

    # 160-sample frames from the filter graph, paced by -re: one packet every 20 ms.
    heard, summary = stream_through_the_bridge(tmp_path, f"amovie={SAMPLE},asetnsamples=n=160:p=0", press_keys)
    packets_in, packets_out, _, late, concealed, digit_count, refused = map(int, summary.groups())
    assert packets_in >= 400 and packets_out >= 900
    assert (digit_count, refused) == (3, 0)
    # ffmpeg's -re pacing on a loaded machine now and then sends a packet past the buffer's
    # margin: it is late, a frame is concealed and the buffer's delay grows by that frame (seen
    # once in a dozen runs here); the echo is then the caller's in two stretches a frame apart.
    assert late <= 2, f"{late} packets late"
    assert_echo_is_the_caller(heard, identical=0.99, concealed_frames=concealed)


def test_ffmpegs_default_packetisation_is_reframed(tmp_path):
    """ffmpeg's own packet sizes, as a new user's first try sends them: payloads up to its MTU
    (1,460, 1,460 and 1,176 bytes per 512 ms input frame with ffmpeg 5.1), all three sent at the
    frame's start, so the last arrives 365 ms early; the jitter buffer's maximum must cover that
    spread (README, RTP). Every packet taken, none late, and the echo identical to the caller's
    audio but where the buffer says it concealed: when a burst's first packet comes later than any
    before (ffmpeg's send-time noise, ±9 ms, against the buffer's 5 ms margin) the end of the frame
    before it is concealed and the buffer's delay grows. How often that happens varies from run
    to run: 74 to 218 differing samples of 64,168 (4 to 6 frames concealed) in seven runs here,
    each burst start a pair of frames (concealed, crossfaded). So the bound is the bridge's own
    count of concealed frames, and the count itself is bounded: at most 10 in an 8 s call."""
    heard, summary = stream_through_the_bridge(tmp_path, f"amovie={SAMPLE}", extra_args=("--jitter-max-ms", "500"))
    packets_in, _, _, late, concealed, _, refused = map(int, summary.groups())
    assert packets_in >= 40 and (late, refused) == (0, 0)
    assert concealed <= 10, f"{concealed} frames concealed"
    assert_echo_is_the_caller(heard, identical=0.99, concealed_frames=concealed)
