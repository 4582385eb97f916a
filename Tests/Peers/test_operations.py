# SPDX-License-Identifier: MIT
"""What is the same for every transport, tried against the release binary as an operator would:
a call on each of AudioSocket, Twilio, chan_websocket, FreeSWITCH and RTP shows up in /metrics
under its transport label and in --record; --max-calls refuses in each protocol's own way; the
media listeners' credentials and Twilio's handshake signature are checked before any WebSocket
exists; and SIGTERM drains: new calls refused, /readyz 503, the running call runs to its end,
then the process exits (a second signal hangs up at once). The peers are written here from the
protocol descriptions (protocols.md), not from our Swift code."""
import asyncio
import base64
import hashlib
import hmac
import json
import re
import signal
import socket
import struct
import threading
import time
import urllib.error
import urllib.request

import websockets

from peers import BIN, listening_port, running, split_audiosocket, talk, ulaw_encode

FRAME = 160


def pcm16(samples):
    return b"".join(struct.pack("<h", s) for s in samples)


def ulaw(samples):
    return bytes(ulaw_encode(s) for s in samples)


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(text, name, **labels):
    """The value of one sample of the Prometheus text, or None."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def metrics_port(process):
    return int(process.wait_for(r"metrics at http://127\.0\.0\.1:(\d+)/metrics").group(1))


class AudioSocketCaller:
    """An Asterisk-like AudioSocket call: the UUID, then a 20 ms slin frame every 20 ms; what
    comes back is counted, and a hang-up (kind 0x00) from the server noted."""

    def __init__(self, port, seconds, samples=None):
        self.port, self.seconds = port, seconds
        self.samples = samples or talk(1.0) + [0] * 8000
        self.frames_received = 0
        self.hung_up_by_server = False
        self.closed_by_server = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def join(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the AudioSocket call did not end"

    def _reader(self, sock):
        buffer = b""
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                self.closed_by_server = True
                return
            messages, buffer = split_audiosocket(buffer + data)
            for kind, _ in messages:
                if kind == 0x10:
                    self.frames_received += 1
                elif kind == 0x00:
                    self.hung_up_by_server = True

    def _run(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall(bytes([0x01, 0x00, 0x10]) + bytes(range(16)))
        reader = threading.Thread(target=self._reader, args=(sock,), daemon=True)
        reader.start()
        start = time.monotonic()
        for n in range(int(self.seconds * 50)):
            if self.closed_by_server:
                break
            chunk = [self.samples[(n * FRAME + i) % len(self.samples)] for i in range(FRAME)]
            try:
                sock.sendall(bytes([0x10, 0x01, 0x40]) + pcm16(chunk))
            except OSError:
                break
            delay = start + (n + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        try:
            sock.sendall(bytes([0x00, 0x00, 0x00]))
            time.sleep(0.1)
        except OSError:
            pass
        sock.close()
        reader.join(2)


async def twilio_call(port, sid, seconds, headers=None):
    """A Twilio Media Stream: connected, start, μ-law media every 20 ms, stop."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/twilio/media", additional_headers=headers or {}, compression=None) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": sid, "start": {
            "streamSid": sid, "accountSid": "AC0", "callSid": "CA" + sid, "tracks": ["inbound"], "customParameters": {},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
        audio = ulaw(talk(seconds))
        for n in range(len(audio) // FRAME):
            await ws.send(json.dumps({"event": "media", "sequenceNumber": str(n + 2), "streamSid": sid, "media": {
                "track": "inbound", "chunk": str(n + 1), "timestamp": str(20 * n), "payload": base64.b64encode(audio[n * FRAME:(n + 1) * FRAME]).decode()}}))
            await asyncio.sleep(0.02)
        await ws.send(json.dumps({"event": "stop", "sequenceNumber": "999", "streamSid": sid, "stop": {"accountSid": "AC0", "callSid": "CA" + sid}}))


async def chan_websocket_call(port, seconds, headers=None):
    async with websockets.connect(f"ws://127.0.0.1:{port}/media", additional_headers=headers or {}, compression=None) as ws:
        await ws.send("MEDIA_START connection_id:c9 channel:WebSocket/c9/0x9 channel_id:1761.9 format:ulaw optimal_frame_size:160 ptime:20")
        audio = ulaw(talk(seconds))
        for n in range(len(audio) // FRAME):
            await ws.send(audio[n * FRAME:(n + 1) * FRAME])
            await asyncio.sleep(0.02)


async def freeswitch_call(port, seconds, query=""):
    """mod_audio_stream: no subprotocol, metadata text first, then L16 at 8 kHz."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/stream{query}", compression=None) as ws:
        await ws.send(json.dumps({"callSid": "fs-operations"}))
        audio = pcm16(talk(seconds))
        for n in range(len(audio) // (2 * FRAME)):
            await ws.send(audio[n * 2 * FRAME:(n + 1) * 2 * FRAME])
            await asyncio.sleep(0.02)


def rtp_call(port, seconds):
    """PCMU RTP, 20 ms packets, from a socket of our own; returns how many packets came back."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.001)
    audio = ulaw(talk(seconds))
    received = 0
    start = time.monotonic()
    for n in range(len(audio) // FRAME):
        header = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * FRAME, 0x1234ABCD)
        sock.sendto(header + audio[n * FRAME:(n + 1) * FRAME], ("127.0.0.1", port))
        try:
            while True:
                sock.recv(2048)
                received += 1
        except (socket.timeout, BlockingIOError):
            pass
        delay = start + (n + 1) * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    sock.close()
    return received


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upgrade_status(url, headers=None, subprotocols=None):
    """The HTTP status of a WebSocket upgrade request (101 when it succeeds), and the response headers."""
    async def attempt():
        try:
            async with websockets.connect(url, additional_headers=headers or {}, subprotocols=subprotocols, compression=None, open_timeout=5):
                return 101, {}
        except websockets.exceptions.InvalidStatus as error:
            return error.response.status_code, dict(error.response.headers)
    return asyncio.run(attempt())


def test_every_transport_reaches_metrics_and_recording(tmp_path):
    rtp_port = free_port(socket.SOCK_DGRAM)
    record = tmp_path / "calls"
    record.mkdir()
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--twilio", "127.0.0.1:0", "--asterisk-ws", "127.0.0.1:0",
                  "--freeswitch", "127.0.0.1:0", "--rtp", f"127.0.0.1:{rtp_port}", "--rtp-idle-seconds", "1", "--metrics", "127.0.0.1:0",
                  "--record", record, "--agent", "echo", "--log-level", "warning"]) as bridge:
        ports = {name: listening_port(bridge, name) for name in ["AudioSocket", "Twilio", "FreeSWITCH", "Asterisk chan_websocket"]}
        metrics = metrics_port(bridge)
        caller = AudioSocketCaller(ports["AudioSocket"], 2).start()
        rtp = {}
        rtp_thread = threading.Thread(target=lambda: rtp.update(received=rtp_call(rtp_port, 2)), daemon=True)
        rtp_thread.start()

        async def websockets_calls():
            await asyncio.gather(twilio_call(ports["Twilio"], "MZops", 2), chan_websocket_call(ports["Asterisk chan_websocket"], 2),
                                 freeswitch_call(ports["FreeSWITCH"], 2))
        asyncio.run(websockets_calls())
        caller.join()
        rtp_thread.join(10)
        assert rtp["received"] > 50, rtp
        # Every call has ended (RTP's one second after its last packet) and its recording is written.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            _, text = http_get(metrics, "/metrics")
            if all(metric(text, "audiobridge_recordings_total", transport=t) == 1 for t in ["audiosocket", "twilio", "chan_websocket", "freeswitch", "rtp"]):
                break
            time.sleep(0.2)
        for transport in ["audiosocket", "twilio", "chan_websocket", "freeswitch", "rtp"]:
            assert metric(text, "audiobridge_calls_total", transport=transport) == 1, (transport, text)
            assert metric(text, "audiobridge_active_calls", transport=transport) == 0, (transport, text)
            assert metric(text, "audiobridge_frames_in_total", transport=transport) >= 90, (transport, text)
            assert metric(text, "audiobridge_frames_out_total", transport=transport) >= 1, (transport, text)
            assert metric(text, "audiobridge_recordings_total", transport=transport) == 1, (transport, text)
            assert metric(text, "audiobridge_frame_processing_seconds_count", transport=transport) is not None, transport
        # Every session, call and agent of the five calls has been freed (a leak keeps a count up).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            _, text = http_get(metrics, "/metrics")
            if all(metric(text, "audiobridge_live_objects", kind=kind) == 0 for kind in ["session", "call", "agent"]):
                break
            time.sleep(0.2)
        for kind in ["session", "call", "agent"]:
            assert metric(text, "audiobridge_live_objects", kind=kind) == 0, (kind, text)
        time.sleep(0.5)
        wavs = sorted(record.glob("*.wav"))
        assert len(wavs) == 5, wavs
        for wav in wavs:
            data = wav.read_bytes()
            assert data[:4] == b"RIFF" and struct.unpack("<HI", data[22:28]) == (2, 8000), wav
            left = [struct.unpack("<h", data[i:i + 2])[0] for i in range(44, len(data) - 3, 4)]
            # The caller's talk is on the left channel of every transport's recording.
            assert sum(1 for s in left if abs(s) > 1000) > 4000, (wav, len(left))


def test_max_calls_refuses_in_each_transports_own_way():
    rtp_port = free_port(socket.SOCK_DGRAM)
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--asterisk-ws", "127.0.0.1:0", "--freeswitch", "127.0.0.1:0",
                  "--twilio", "127.0.0.1:0", "--rtp", f"127.0.0.1:{rtp_port}", "--metrics", "127.0.0.1:0", "--max-calls", "1",
                  "--agent", "echo", "--log-level", "warning"]) as bridge:
        ports = {name: listening_port(bridge, name) for name in ["AudioSocket", "Twilio", "FreeSWITCH", "Asterisk chan_websocket"]}
        metrics = metrics_port(bridge)
        first = AudioSocketCaller(ports["AudioSocket"], 3).start()
        time.sleep(0.5)
        second = AudioSocketCaller(ports["AudioSocket"], 2).start()
        second.join()
        assert second.hung_up_by_server and second.frames_received == 0
        assert upgrade_status(f"ws://127.0.0.1:{ports['Asterisk chan_websocket']}/media")[0] == 503
        assert upgrade_status(f"ws://127.0.0.1:{ports['FreeSWITCH']}/stream")[0] == 503
        assert upgrade_status(f"ws://127.0.0.1:{ports['Twilio']}/twilio/media")[0] == 503
        assert rtp_call(rtp_port, 0.5) == 0, "RTP past the limit is ignored"
        first.join()
        assert first.frames_received >= 140 and not first.hung_up_by_server
        _, text = http_get(metrics, "/metrics")
        for transport in ["audiosocket", "chan_websocket", "freeswitch", "twilio", "rtp"]:
            assert metric(text, "audiobridge_refused_calls_total", transport=transport, reason="limit") == 1, (transport, text)
        assert metric(text, "audiobridge_calls_total", transport="audiosocket") == 1


def twilio_signature(token, url):
    return base64.b64encode(hmac.new(token.encode(), url.encode(), hashlib.sha1).digest()).decode()


def test_listeners_check_credentials_before_the_upgrade():
    twilio_port = free_port()
    token = "ops-test-token"
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--asterisk-ws", "127.0.0.1:0", "--asterisk-ws-auth", "asterisk:s3cret",
                  "--freeswitch", "127.0.0.1:0", "--freeswitch-token", "fs-t0ken", "--twilio", f"127.0.0.1:{twilio_port}",
                  "--twilio-public-url", f"http://127.0.0.1:{twilio_port}", "--metrics", "127.0.0.1:0", "--agent", "echo", "--log-level", "error"],
                 env={"TWILIO_AUTH_TOKEN": token}) as bridge:
        ports = {name: listening_port(bridge, name) for name in ["FreeSWITCH", "Asterisk chan_websocket"]}
        metrics = metrics_port(bridge)
        chan = f"ws://127.0.0.1:{ports['Asterisk chan_websocket']}/media"
        status, headers = upgrade_status(chan)
        assert status == 401 and headers.get("WWW-Authenticate", headers.get("www-authenticate", "")).startswith("Basic"), (status, headers)
        wrong = "Basic " + base64.b64encode(b"asterisk:guess").decode()
        assert upgrade_status(chan, {"Authorization": wrong})[0] == 403
        right = "Basic " + base64.b64encode(b"asterisk:s3cret").decode()
        assert upgrade_status(chan, {"Authorization": right})[0] == 101

        fs = f"ws://127.0.0.1:{ports['FreeSWITCH']}/stream"
        assert upgrade_status(fs)[0] == 401
        assert upgrade_status(fs + "?token=nope")[0] == 403
        assert upgrade_status(fs + "?token=fs-t0ken")[0] == 101
        assert upgrade_status(fs, {"Authorization": "Bearer fs-t0ken"})[0] == 101

        # Twilio signs the handshake over the stream URL its TwiML gave (ws:// here: the public URL is http://).
        stream = f"ws://127.0.0.1:{twilio_port}/twilio/media"
        assert upgrade_status(stream)[0] == 403
        assert upgrade_status(stream, {"X-Twilio-Signature": twilio_signature("another-token", stream)})[0] == 403
        assert upgrade_status(stream, {"X-Twilio-Signature": twilio_signature(token, stream)})[0] == 101
        # A signed stream runs a whole call.
        asyncio.run(twilio_call(twilio_port, "MZsigned", 1, {"X-Twilio-Signature": twilio_signature(token, stream)}))

        _, text = http_get(metrics, "/metrics")
        assert metric(text, "audiobridge_refused_calls_total", transport="chan_websocket", reason="unauthorized") == 2
        assert metric(text, "audiobridge_refused_calls_total", transport="freeswitch", reason="unauthorized") == 2
        assert metric(text, "audiobridge_refused_calls_total", transport="twilio", reason="unauthorized") == 2
        assert metric(text, "audiobridge_calls_total", transport="twilio") == 1


def test_json_logs_carry_the_calls_fields():
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--agent", "echo", "--log-format", "json"]) as bridge:
        port = listening_port(bridge, "AudioSocket")
        AudioSocketCaller(port, 1, talk(0.5) + [0] * 8000).start().join()
        bridge.wait_for('"message":"call ended"')
        records = [json.loads(line) for line in bridge.lines if line.startswith("{")]
        started = next(r for r in records if r["message"] == "call started")
        ended = next(r for r in records if r["message"] == "call ended")
        for record in (started, ended):
            assert record["transport"] == "audiosocket" and record["agent"] == "echo" and record["level"] == "info", record
            assert re.fullmatch(r"[0-9a-f-]{36}", record["call"]) and re.match(r"\d{4}-\d\d-\d\dT", record["time"]), record
        assert started["call"] == ended["call"] and int(ended["frames_in"]) >= 45, ended


def test_sigterm_drains_then_hangs_up_at_the_limit_or_a_second_signal():
    twilio_port = free_port()
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--twilio", f"127.0.0.1:{twilio_port}", "--metrics", "127.0.0.1:0",
                  "--drain-seconds", "20", "--agent", "echo", "--log-level", "warning"]) as bridge:
        port = listening_port(bridge, "AudioSocket")
        metrics = metrics_port(bridge)
        assert http_get(metrics, "/readyz")[0] == 200
        running_call = AudioSocketCaller(port, 3).start()
        time.sleep(0.7)
        bridge.proc.send_signal(signal.SIGTERM)
        bridge.wait_for(r"draining: new calls refused, 1 call\(s\) running")
        assert http_get(metrics, "/readyz")[0] == 503
        assert http_get(metrics, "/healthz")[0] == 200
        refused = AudioSocketCaller(port, 1).start()
        refused.join()
        assert refused.hung_up_by_server and refused.frames_received == 0
        assert upgrade_status(f"ws://127.0.0.1:{twilio_port}/twilio/media")[0] == 503
        _, text = http_get(metrics, "/metrics")
        assert metric(text, "audiobridge_refused_calls_total", transport="audiosocket", reason="draining") == 1
        # The running call is not cut: it gets its frames to the end it chooses.
        running_call.join()
        assert running_call.frames_received >= 140 and not running_call.hung_up_by_server, vars(running_call)
        bridge.wait_for("every call has ended")
        assert bridge.proc.wait(10) == 0

    # The drain time runs out, or a second signal comes: the calls still running are hung up.
    assert 0.9 < long_call_hung_up(drain_seconds=1, second_signal=False) < 5
    assert long_call_hung_up(drain_seconds=20, second_signal=True) < 5


def long_call_hung_up(drain_seconds, second_signal):
    """A 15 s call, SIGTERM 0.7 s into it (and a second one when asked): the server hangs it up
    and exits 0. Returns the seconds from the first signal to the exit."""
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--drain-seconds", str(drain_seconds), "--agent", "echo",
                  "--log-level", "warning"]) as bridge:
        port = listening_port(bridge, "AudioSocket")
        long_call = AudioSocketCaller(port, 15).start()
        time.sleep(0.7)
        started = time.monotonic()
        bridge.proc.send_signal(signal.SIGTERM)
        bridge.wait_for("draining")
        if second_signal:
            time.sleep(0.3)
            bridge.proc.send_signal(signal.SIGTERM)
        bridge.wait_for(r"second signal: hanging up 1 call\(s\)" if second_signal else r"drain time is up: hanging up 1 call\(s\)")
        long_call.join(5)
        assert long_call.hung_up_by_server and long_call.frames_received >= 40
        assert bridge.proc.wait(10) == 0
        return time.monotonic() - started
