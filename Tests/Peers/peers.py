# SPDX-License-Identifier: MIT
"""What the independent-peer tests share: G.711 μ-law written from the ITU-T G.711 description
(not from our Swift code), a talking caller, and the release binaries started as processes on
loopback and stopped at the end."""
import contextlib
import math
import os
import re
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("AUDIOBRIDGE_BIN_DIR", ROOT / ".build-release" / "release"))

_BIAS = 0x84


def ulaw_encode(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + _BIAS
    exponent = max(0, magnitude.bit_length() - 8)
    exponent = min(exponent, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | exponent << 4 | mantissa) & 0xFF


def ulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + _BIAS) << ((code >> 4) & 0x07)
    return _BIAS - magnitude if code & 0x80 else magnitude - _BIAS


_ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def alaw_encode(sample: int) -> int:
    """G.711 A-law of a 16-bit sample: 13 bits, a segment and 4 mantissa bits, even bits inverted."""
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        value = -value - 1
    segment = next((n for n, end in enumerate(_ALAW_SEGMENT_ENDS) if value <= end), 8)
    if segment == 8:
        return 0x7F ^ mask
    mantissa = (value >> 1 if segment < 2 else value >> segment) & 0x0F
    return (segment << 4 | mantissa) ^ mask


def alaw_decode(code: int) -> int:
    code ^= 0x55
    magnitude = (code & 0x0F) << 4
    segment = (code & 0x70) >> 4
    magnitude += 8 if segment == 0 else 0x108
    if segment > 1:
        magnitude <<= segment - 1
    return magnitude if code & 0x80 else -magnitude


def read_ulaw_wav(path) -> bytes:
    """The μ-law bytes of a mono 8 kHz μ-law WAV (format 7), read from its RIFF chunks."""
    data = Path(path).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", path
    offset, fmt = 12, None
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], int.from_bytes(data[offset + 4:offset + 8], "little")
        body = data[offset + 8:offset + 8 + size]
        if chunk == b"fmt ":
            fmt = (int.from_bytes(body[0:2], "little"), int.from_bytes(body[2:4], "little"), int.from_bytes(body[4:8], "little"))
        elif chunk == b"data":
            assert fmt == (7, 1, 8000), f"{path}: not mono 8 kHz μ-law: {fmt}"
            return body
        offset += 8 + size + (size & 1)
    raise AssertionError(f"{path}: no data chunk")


def split_audiosocket(buffer: bytes) -> tuple:
    """The whole AudioSocket messages (kind, payload) at the start of `buffer` (a 3-byte header:
    kind, then the payload's length big-endian), and the bytes left over."""
    messages = []
    while len(buffer) >= 3:
        kind, length = buffer[0], int.from_bytes(buffer[1:3], "big")
        if len(buffer) < 3 + length:
            break
        messages.append((kind, buffer[3:3 + length]))
        buffer = buffer[3 + length:]
    return messages, buffer


def talk(seconds: float, level: float = 9000, seed: float = 0, rate: int = 8000) -> list:
    """A voiced, syllable-modulated caller: loud enough for any speech detector."""
    out = []
    for n in range(int(rate * seconds)):
        t = n / rate
        tone = math.sin(2 * math.pi * 310 * t + seed) + 0.7 * math.sin(2 * math.pi * 1130 * t) + 0.5 * math.sin(2 * math.pi * 2470 * t + seed)
        syllable = 0.6 + 0.4 * math.sin(2 * math.pi * 4 * t)
        out.append(int(level * tone * syllable / 2.2))
    return out


def loud_frames(samples: list, frame: int = 160, threshold: int = 500) -> int:
    return sum(1 for i in range(0, len(samples) - frame + 1, frame) if max(abs(s) for s in samples[i:i + frame]) > threshold)


class Process:
    """A binary started with its output read line by line on a thread; `wait_for` finds a line."""

    def __init__(self, args: list, env: dict = None):
        self.lines = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(env or {})})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        regex = re.compile(pattern)
        with self._changed:
            found = self._changed.wait_for(lambda: next((m for m in map(regex.search, self.lines) if m), None) or self.proc.poll() is not None, timeout)
            match = next((m for m in map(regex.search, self.lines) if m), None)
        assert match, f"no line matching {pattern!r} from {self.proc.args[0]} (exit {self.proc.poll()}):\n" + "\n".join(self.lines[-20:])
        return match

    def stop(self):
        """SIGTERM (a server drains: its calls may run on), a second one after 2 s (hang up at
        once), then SIGKILL after 10 s more."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
                return
            except subprocess.TimeoutExpired:
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def running(args: list, env: dict = None):
    process = Process(args, env)
    try:
        yield process
    finally:
        process.stop()


def listening_port(process: Process, label: str) -> int:
    """The port from a line like 'audiobridge: Twilio listening on [IPv4]127.0.0.1/127.0.0.1:40123: …'."""
    return int(process.wait_for(label + r" listening on \S*?:(\d+)").group(1))
