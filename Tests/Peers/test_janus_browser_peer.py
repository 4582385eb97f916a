# SPDX-License-Identifier: MIT
"""A browser calls the bridge: headless Chromium opens deploy/janus/index.html, which sends its
fake microphone (a WAV of a talking caller) over WebRTC to Janus (Debian's janus, deploy/janus's
configuration), whose SIP plugin calls `serve --sip` (echo agent) and relays the RTP untouched.
The browser offers Opus first and a dozen codecs; the bridge must answer PCMU, so that what the
browser hears is its own voice back. Everything runs in a network namespace of its own
(janus_browser_call.py: Janus gathers no ICE candidates on `lo`)."""
import json
import math
import shutil
import struct
import subprocess
import sys
import wave
from pathlib import Path

from peers import BIN, loud_frames, talk

HELPER = Path(__file__).with_name("janus_browser_call.py")
RATE = 8000


def write_caller(path: Path, rate: int = 48000):
    """1.2 s of a talking caller (peers.talk), then 2.8 s of silence — the echo agent answers a
    turn once the caller has stopped — looped by Chromium's fake microphone."""
    voice = talk(1.2, rate=rate)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(voice)}h", *voice) + bytes(2 * int(2.8 * rate)))


def read_wav(path: Path) -> list:
    """Each channel of a 16-bit 8 kHz WAV."""
    with wave.open(str(path)) as file:
        assert (file.getframerate(), file.getsampwidth()) == (RATE, 2), path
        channels = file.getnchannels()
        data = file.readframes(file.getnframes())
    samples = struct.unpack(f"<{len(data) // 2}h", data)
    return [samples[channel::channels] for channel in range(channels)]


def correlation(a, b) -> float:
    energy = math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b)) / energy if energy else 0.0


def best_alignment(heard, sent, frame: int = 160, search_frames: int = 100) -> tuple:
    """How well `heard` is `sent` at some offset (two recordings started at different times):
    the 20 ms envelopes give the offset to a frame, then the samples of the loudest second,
    searched a frame either side, give the correlation."""
    envelope = lambda samples: [sum(abs(s) for s in samples[i:i + frame]) for i in range(0, len(samples) - frame + 1, frame)]
    heard_envelope, sent_envelope = envelope(heard), envelope(sent)
    lag = max(range(-search_frames, search_frames + 1),
              key=lambda lag: sum(h * sent_envelope[i - lag] for i, h in enumerate(heard_envelope) if 0 <= i - lag < len(sent_envelope)))
    loudest = max(range(0, len(heard) - RATE, frame), key=lambda start: sum(abs(s) for s in heard[start:start + RATE:8]))
    window = heard[loudest:loudest + RATE]
    best = max(correlation(window, sent[loudest - lag * frame - shift:loudest - lag * frame - shift + RATE])
               for shift in range(-frame, frame + 1) if 0 <= loudest - lag * frame - shift and loudest - lag * frame - shift + RATE <= len(sent))
    return lag * frame, best


def test_a_browser_calls_through_janus_and_hears_itself_back_as_pcmu(tmp_path):
    for tool in ("janus", "chromium", "unshare", "ip"):
        assert shutil.which(tool), f"{tool} is needed by this test (make deps installs it)"
    wav = tmp_path / "caller.wav"
    write_caller(wav)
    run = subprocess.run(["unshare", "--net", sys.executable, HELPER, tmp_path, wav, "9"], capture_output=True, text=True, timeout=120,
                         env={"AUDIOBRIDGE_BIN_DIR": str(BIN), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    logs = {name: (tmp_path / f"{name}.log").read_text() if (tmp_path / f"{name}.log").exists() else "" for name in ("bridge", "janus")}
    assert run.returncode == 0, run.stderr + logs["bridge"][-2000:]
    assert (tmp_path / "log.json").exists(), f"the page reported nothing\n{run.stderr}\n{logs['janus'][-3000:]}"
    page = json.loads((tmp_path / "log.json").read_text())
    assert "answered: PCMU" in page, page

    # The bridge was offered the browser's list (Opus first) and took PCMU from it.
    answered = [line for line in logs["bridge"].splitlines() if "SIP call answered" in line]
    assert len(answered) == 1, logs["bridge"]
    assert "codec=ulaw" in answered[0] and "opus/48000" in answered[0], answered[0]
    assert "hung up by the caller" in logs["bridge"], logs["bridge"]

    # The bridge's recording: what it took from the browser (left) and sent back to it (right).
    took, sent = read_wav(tmp_path / "sip-1.wav")
    (heard,) = read_wav(tmp_path / "heard.wav")
    assert len(heard) >= 7 * RATE, len(heard)  # the page heard the whole call
    assert loud_frames(took) >= 100, loud_frames(took)  # 9 s hold two turns of 1.2 s at least
    assert loud_frames(sent) >= 50, loud_frames(sent)  # one turn echoed whole at least
    # What the page heard is what the bridge sent it: PCMU through Janus, decoded by Chromium
    # (the page's recording starts a little after the bridge's, hence the search for the offset;
    # here it comes out bit-exact, 1.0, and Chromium's resampling would be allowed some error).
    offset, similarity = best_alignment(list(heard), list(sent))
    assert similarity >= 0.95, (offset, similarity)
