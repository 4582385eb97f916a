# SPDX-License-Identifier: MIT
"""Calls into a running Asterisk's AudioBridge() through chan_audiosocket and checks what the
caller hears. Started by test-in-asterisk.sh, which writes the dialplan this expects.

Each call: Asterisk dials AudioSocket/127.0.0.1:PORT/UUID (an AMI Originate into the test
context), connects to the AudioSocket server here, and the channel runs AudioBridge(); this
side plays the caller (frames of a chosen size, or nothing at all) and records the channel's
output. The manager interface's events are collected for the checks.
"""
import argparse
import socket
import struct
import sys
import threading
import time
import uuid

import numpy as np

KIND_HANGUP, KIND_UUID, KIND_SLIN, KIND_SLIN16 = 0x00, 0x01, 0x10, 0x12


def speech_like(seconds, rate, frequency=300.0):
    """A voiced, syllable-paced signal (4 Hz loudness): a steady tone would be taken for noise."""
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.6 + 0.4 * np.cos(2 * np.pi * 4 * t)
    wave = np.sin(2 * np.pi * frequency * t) + 0.5 * np.sin(2 * np.pi * 2 * frequency * t + 0.3)
    return (9000 * envelope * wave).astype(np.int16)


def best_correlation(reference, heard):
    """The largest normalised correlation of `reference` against any stretch of `heard`."""
    ref = reference.astype(np.float64)
    sig = heard.astype(np.float64)
    if len(sig) < len(ref):
        return 0.0, 0
    n = 1 << (len(sig) + len(ref)).bit_length()
    cross = np.fft.irfft(np.fft.rfft(sig, n) * np.conj(np.fft.rfft(ref, n)), n)[: len(sig) - len(ref) + 1]
    energy = np.convolve(sig * sig, np.ones(len(ref)), "valid")
    reference_energy = np.dot(ref, ref)
    # Stretches far quieter than the reference are not candidates (and would divide by ~0).
    scores = np.where(energy > 0.01 * reference_energy, cross / np.sqrt(np.maximum(energy, 1e-9) * reference_energy), 0.0)
    lag = int(np.argmax(scores))
    return float(scores[lag]), lag


def first_loud_stretch_ms(samples, rate):
    """How long the first stretch of sound lasts, in 20 ms frames (a prompt cut short, not its replays)."""
    frame = rate // 50
    loud = [np.max(np.abs(samples[i : i + frame])) > 2000 for i in range(0, len(samples) - frame + 1, frame)]
    if True not in loud:
        return 0
    start = loud.index(True)
    end = loud.index(False, start) if False in loud[start:] else len(loud)
    return (end - start) * 20


def dominant_frequency(samples, rate):
    if len(samples) < 64:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


class Manager:
    """A minimal AMI client: logs in, sends actions, keeps every event."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.events = []
        self.lock = threading.Lock()
        self.buffer = b""
        self.sock.recv(1024)  # banner
        self.action("Login", Username="test", Secret="test")
        threading.Thread(target=self._read, daemon=True).start()

    def action(self, name, **fields):
        text = f"Action: {name}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        self.sock.sendall(text.encode())

    def _read(self):
        self.sock.settimeout(None)
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.buffer += data
            while b"\r\n\r\n" in self.buffer:
                block, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
                fields = {}
                for line in block.decode(errors="replace").split("\r\n"):
                    if ": " in line:
                        key, value = line.split(": ", 1)
                        fields[key] = value
                if "Event" in fields:
                    with self.lock:
                        self.events.append(fields)

    def wait_for(self, predicate, seconds=10):
        deadline = time.time() + seconds
        while time.time() < deadline:
            with self.lock:
                found = [e for e in self.events if predicate(e)]
            if found:
                return found
            time.sleep(0.05)
        return []


class Caller:
    """One AudioSocket connection from Asterisk: plays `script` and records what comes back."""

    def __init__(self, conn, rate):
        self.conn = conn
        self.rate = rate
        self.heard = bytearray()
        self.hung_up_by_asterisk = False
        self.first_audio_at = None
        self.started = time.monotonic()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        buffer = b""
        while True:
            try:
                data = self.conn.recv(65536)
            except OSError:
                return
            if not data:
                self.hung_up_by_asterisk = True
                return
            buffer += data
            while len(buffer) >= 3:
                kind, length = buffer[0], struct.unpack(">H", buffer[1:3])[0]
                if len(buffer) < 3 + length:
                    break
                payload, buffer = buffer[3 : 3 + length], buffer[3 + length :]
                if kind == KIND_HANGUP:
                    self.hung_up_by_asterisk = True
                    return
                if kind in (KIND_SLIN, KIND_SLIN16):
                    if self.first_audio_at is None:
                        self.first_audio_at = time.monotonic()
                    self.heard += payload

    def send(self, samples, frame_ms, kind):
        """Paced at real time, `frame_ms` per message."""
        per_frame = self.rate * frame_ms // 1000
        start = time.monotonic()
        for index, offset in enumerate(range(0, len(samples), per_frame)):
            payload = samples[offset : offset + per_frame].astype("<i2").tobytes()
            try:
                self.conn.sendall(struct.pack(">BH", kind, len(payload)) + payload)
            except OSError:
                return
            delay = start + (index + 1) * frame_ms / 1000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def wait(self, seconds):
        self.reader.join(seconds)

    def hang_up(self):
        try:
            self.conn.sendall(bytes([KIND_HANGUP, 0, 0]))
            self.conn.close()
        except OSError:
            pass

    def audio(self):
        return np.frombuffer(bytes(self.heard[: len(self.heard) // 2 * 2]), dtype="<i2")


class Peer:
    def __init__(self, manager, port):
        self.manager = manager
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(16)
        self.listener.settimeout(10)
        self.port = port
        self.failures = []

    def call(self, exten, rate=8000, codec=None):
        call_id = str(uuid.uuid4())
        channel = f"AudioSocket/127.0.0.1:{self.port}/{call_id}" + (f"/c({codec})" if codec else "")
        self.manager.action("Originate", Channel=channel, Context="test", Exten=exten, Priority=1, Async="true")
        conn, _ = self.listener.accept()
        header = conn.recv(3 + 16, socket.MSG_WAITALL)
        if header[0] != KIND_UUID or uuid.UUID(bytes=header[3:19]) != uuid.UUID(call_id):
            raise RuntimeError(f"unexpected first message {header!r}")
        return Caller(conn, rate)

    def check(self, name, condition, detail):
        print(f"  {'ok  ' if condition else 'FAIL'} {name}: {detail}")
        if not condition:
            self.failures.append(name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ami-port", type=int, required=True)
    parser.add_argument("--audiosocket-port", type=int, required=True)
    args = parser.parse_args()
    manager = Manager(args.ami_port)
    peer = Peer(manager, args.audiosocket_port)

    def end_events():
        with manager.lock:
            return [e for e in manager.events if e.get("Event") == "AudioBridgeEnd"]

    # 1. The caller talks, then sends nothing at all (silence suppression): the echo must
    #    still be heard.
    print("echo, caller silent after talking (nothing sent, as with silence suppression):")
    utterance = speech_like(1.2, 8000)
    caller = peer.call("echo")
    caller.send(np.zeros(800, dtype=np.int16), 20, KIND_SLIN)  # 100 ms of line silence first
    caller.send(utterance, 20, KIND_SLIN)
    time.sleep(3.5)  # nothing sent
    caller.hang_up()
    score, lag = best_correlation(utterance[800:], caller.audio())
    peer.check("the echo is heard without caller frames", score > 0.9, f"correlation {score:.3f} at {lag / 8:.0f} ms")

    # 2. 10 ms frames.
    print("echo, 10 ms caller frames:")
    caller = peer.call("echo")
    caller.send(np.concatenate([np.zeros(800, dtype=np.int16), utterance, np.zeros(8000 * 3, dtype=np.int16)]), 10, KIND_SLIN)
    caller.hang_up()
    score, lag = best_correlation(utterance[800:], caller.audio())
    peer.check("10 ms frames are re-framed", score > 0.9, f"correlation {score:.3f} at {lag / 8:.0f} ms")

    # 3. A native 16 kHz channel (chan_audiosocket's c(slin16)): Asterisk translates both ways.
    print("echo, a 16 kHz signed-linear channel:")
    utterance16 = speech_like(1.2, 16000)
    caller = peer.call("echo", rate=16000, codec="slin16")
    caller.send(np.concatenate([np.zeros(1600, dtype=np.int16), utterance16, np.zeros(16000 * 3, dtype=np.int16)]), 20, KIND_SLIN16)
    caller.hang_up()
    score, lag = best_correlation(utterance16[1600:], caller.audio())
    peer.check("slin16 in and out", score > 0.9, f"correlation {score:.3f} at {lag / 16:.0f} ms")

    # 4. The agent ends the call once its prompt was heard.
    print("tone:440:600?then=hangup:")
    before = len(end_events())
    caller = peer.call("hangup")
    caller.wait(5)
    heard = caller.audio()
    loud = np.flatnonzero(np.abs(heard) > 2000)
    tone_ms = (loud[-1] - loud[0] + 1) / 8 if len(loud) else 0
    peer.check("Asterisk hangs up after the prompt", caller.hung_up_by_asterisk, f"hung up: {caller.hung_up_by_asterisk}")
    peer.check("the whole 600 ms prompt was heard first", 580 <= tone_ms <= 620, f"{tone_ms:.0f} ms of tone")
    end = manager.wait_for(lambda e: e.get("Event") == "AudioBridgeEnd" and e.get("Status") == "AGENT_HANGUP", 5)
    peer.check("AudioBridgeEnd Status AGENT_HANGUP", len(end_events()) > before and bool(end), f"{end[-1] if end else None}")

    # 5. The agent transfers the call to the second allowed target, which answers with 880 Hz.
    print("tone:440:400?then=transfer:2 with targets sales&support:")
    caller = peer.call("transfer")
    caller.wait(6)
    heard = caller.audio()
    first = dominant_frequency(heard[800:3200], 8000)  # 100-400 ms
    loud = np.flatnonzero(np.abs(heard) > 2000)
    second = dominant_frequency(heard[loud[-1] - 2000 : loud[-1]], 8000) if len(loud) else 0
    peer.check("the prompt, then the target's tone", abs(first - 440) < 20 and abs(second - 880) < 20, f"{first:.0f} Hz then {second:.0f} Hz")
    transfer = manager.wait_for(lambda e: e.get("Event") == "AudioBridgeEnd" and e.get("Status") == "TRANSFER", 5)
    peer.check("AudioBridgeEnd Status TRANSFER to support", bool(transfer) and transfer[-1].get("TransferTarget") == "support", f"{transfer[-1] if transfer else None}")

    # 6. A transfer request outside the list is refused and the call goes on.
    print("tone:440:300?then=transfer:3 with one target:")
    caller = peer.call("refused")
    caller.send(np.zeros(8000 * 2, dtype=np.int16), 20, KIND_SLIN)
    still_up = not caller.hung_up_by_asterisk
    caller.hang_up()
    refused = manager.wait_for(lambda e: e.get("Event") == "AudioBridgeTransferRefused" and e.get("Request") == "3", 5)
    peer.check("AudioBridgeTransferRefused Request 3", bool(refused), f"{refused[-1] if refused else None}")
    peer.check("the call goes on", still_up, f"still up after 2 s: {still_up}")
    ended = manager.wait_for(lambda e: e.get("Event") == "AudioBridgeEnd" and e.get("Status") == "CALLER_HANGUP", 5)
    peer.check("AudioBridgeEnd Status CALLER_HANGUP", bool(ended), f"{ended[-1] if ended else None}")

    # 7. Talking over a long prompt: barge-in events, and the prompt stops.
    print("tone:440:4000, the caller talks over it:")
    caller = peer.call("long")
    caller.send(np.zeros(8000, dtype=np.int16), 20, KIND_SLIN)
    caller.send(speech_like(1.5, 8000, frequency=220), 20, KIND_SLIN)
    caller.send(np.zeros(8000 * 2, dtype=np.int16), 20, KIND_SLIN)
    caller.hang_up()
    tone_ms = first_loud_stretch_ms(caller.audio(), 8000)
    barge = manager.wait_for(lambda e: e.get("Event") == "AudioBridgeBargeIn" and e.get("Outcome") == "committed", 5)
    peer.check("AudioBridgeBargeIn Outcome committed", bool(barge), f"{barge[-1] if barge else None}")
    heard_ms = int(barge[-1]["HeardMs"]) if barge else -1
    peer.check("the prompt stopped where the event says", barge and 0 < tone_ms - heard_ms <= 100,
               f"{tone_ms} ms of the 4,000 ms tone heard before the first gap; HeardMs {heard_ms}")

    # 8. Key presses reach the session and the manager (a Local channel whose other half runs
    #    SendDTMF: chan_audiosocket carries no DTMF from its peer).
    print("DTMF 1, 2, # from the other half of a Local channel:")
    manager.action("Originate", Channel="Local/keys@test", Application="AudioBridge", Data="echo", Async="true")
    keys = manager.wait_for(lambda e: e.get("Event") == "AudioBridgeDTMF" and e.get("Digit") == "#", 10)
    with manager.lock:
        digits = "".join(e["Digit"] for e in manager.events if e.get("Event") == "AudioBridgeDTMF")
    peer.check("AudioBridgeDTMF for each key, in order", digits == "12#", f"digits {digits!r}")

    print("FAILED: " + ", ".join(peer.failures) if peer.failures else "all checks passed")
    return 1 if peer.failures else 0


if __name__ == "__main__":
    sys.exit(main())
