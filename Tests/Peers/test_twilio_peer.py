# SPDX-License-Identifier: MIT
"""`audiobridge serve --twilio … --agent openai` against independent peers: Python `websockets`
in Twilio's role (Media Streams, real-time paced μ-law, marks echoed as Twilio does once played)
and the Realtime model stand-in (`realtime-standin`) in the model's role, whose log of the
events it received is what the model-side assertions read."""
import asyncio
import base64
import hashlib
import hmac
import json
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest
import websockets

from peers import BIN, ROOT, listening_port, loud_frames, read_ulaw_wav, running, ulaw_decode, ulaw_encode

FRAME = 160  # 20 ms of 8 kHz μ-law
SILENCE = bytes([ulaw_encode(0)])
# The caller's words: espeak-ng speech, μ-law 8 kHz.
SPEECH = read_ulaw_wav(ROOT / "samples" / "caller-ulaw-8k.wav")


async def twilio_stream(url: str, caller: bytes, frames: int, parameters: dict, headers: dict = None) -> dict:
    """Streams `caller` (μ-law, then silence) for `frames` frames in real time, as Twilio does, and
    records what comes back: decoded audio, marks (echoed at once: the bridge keeps Twilio's
    buffer about a frame deep, so received is played) and where the clears fell: in samples
    received ("clears") and in frames sent so far ("clears_after_sent")."""
    got = {"received": [], "marks": [], "clears": [], "clears_after_sent": [], "unknown": [], "closed_at_frame": None}
    sent = 0
    sid = "MZpeer"
    async with websockets.connect(url, max_size=1 << 20, compression=None, additional_headers=headers or {}) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": sid, "start": {
            "streamSid": sid, "accountSid": "ACpeer", "callSid": "CApeer", "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))

        async def receive():
            async for text in ws:
                message = json.loads(text)
                event = message.get("event")
                if event == "media":
                    got["received"].extend(ulaw_decode(b) for b in base64.b64decode(message["media"]["payload"]))
                elif event == "mark":
                    name = message["mark"]["name"]
                    got["marks"].append((name, len(got["received"])))
                    await ws.send(json.dumps({"event": "mark", "sequenceNumber": "0", "streamSid": sid, "mark": {"name": name}}))
                elif event == "clear":
                    got["clears"].append(len(got["received"]))
                    got["clears_after_sent"].append(sent)
                else:
                    got["unknown"].append(message)

        receiver = asyncio.create_task(receive())
        loop = asyncio.get_running_loop()
        start = loop.time()
        padded = caller + SILENCE * max(0, frames * FRAME - len(caller))
        try:
            for n in range(frames):
                payload = padded[n * FRAME:(n + 1) * FRAME]
                sent = n + 1  # counted before the send, which may yield to the receiver once written
                await ws.send(json.dumps({"event": "media", "sequenceNumber": str(n + 2), "streamSid": sid, "media": {
                    "track": "inbound", "chunk": str(n + 1), "timestamp": str(n * 20), "payload": base64.b64encode(payload).decode()}}))
                await asyncio.sleep(max(0, start + (n + 1) * 0.02 - loop.time()))
            await asyncio.sleep(0.3)  # the last agent audio and marks
            await ws.send(json.dumps({"event": "stop", "sequenceNumber": str(frames + 2), "streamSid": sid,
                                      "stop": {"accountSid": "ACpeer", "callSid": "CApeer"}}))
        except websockets.ConnectionClosed:
            got["closed_at_frame"] = n  # the bridge ended the stream
        receiver.cancel()
    return got


def read_events(path) -> list:
    return [json.loads(line)["event"] for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("turn_detection", ["server", "local"])
def test_twilio_call_through_the_model_stand_in(tmp_path, turn_detection):
    """server: the stand-in's own VAD hears the caller and its speech_started cuts at once (as
    OpenAI's server VAD cancels its response itself). local: our detector decides — the
    caller's words pause the reply and commit the barge-in."""
    events_file = tmp_path / "model-events.jsonl"
    with running([BIN / "realtime-standin", "--reply-ms", "2000", "--events", events_file]) as model:
        model_url = model.wait_for(r"listening on (ws://\S+)").group(1)
        with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--twilio", "127.0.0.1:0", "--agent", "openai",
                      "--openai-url", model_url, "--turn-detection", turn_detection, "--metrics", "127.0.0.1:0", "--log-level", "warning"],
                     env={"OPENAI_API_KEY": "sk-peer-test"}) as bridge:
            port = listening_port(bridge, "Twilio")
            metrics_port = int(bridge.wait_for(r"metrics at http://\S+?:(\d+)/metrics").group(1))
            # The WAV's first phrase (0.52 s) · quiet (the model's reply 1 starts after its VAD
            # heard 0.4 s of it, or after our end of turn, 0.6 s) · the WAV's second phrase (0.4 s)
            # over the reply: the barge-in · quiet 1.4 s · a voice in the room over reply 2 (the
            # same words 18 dB quieter than the caller, 280 ms; under the stand-in's VAD
            # threshold): it pauses and resumes · quiet (reply 2 plays to its end)
            gap = 30 if turn_detection == "server" else 60
            background_voice = bytes(ulaw_encode(int(ulaw_decode(code) * 0.12)) for code in SPEECH[36 * FRAME:50 * FRAME])
            caller = (SPEECH[:26 * FRAME] + SILENCE * (gap * FRAME) + SPEECH[36 * FRAME:56 * FRAME]
                      + SILENCE * (70 * FRAME) + background_voice)
            frames = 245 + gap
            got = asyncio.run(twilio_stream(f"ws://127.0.0.1:{port}/twilio/media", caller, frames,
                                            {"caller": "+14155550100", "purpose": "peer-test"}))
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
                metrics = dict(line.rsplit(" ", 1) for line in response.read().decode().splitlines() if line and not line.startswith("#"))
    events = read_events(events_file)
    by_type = lambda kind: [e for e in events if e.get("type") == kind]

    # The model was set up for μ-law passthrough and told who calls and why.
    update = by_type("session.update")[0]["session"]
    assert update["audio"]["input"]["format"]["type"] == "audio/pcmu"
    assert "caller=+14155550100" in update["instructions"] and "purpose=peer-test" in update["instructions"]
    # Caller audio reached the model: every frame of 160 μ-law bytes (± a frame or two at the ends).
    appended = sum(e["audio_bytes"] for e in by_type("input_audio_buffer.append"))
    assert (frames - 5) * FRAME <= appended <= frames * FRAME, appended

    # Barge-in: one clear to Twilio (the committed barge-in; the resumed pause sent none); the
    # model's reply 1 cancelled and truncated where the caller stopped hearing it — the reply
    # audio this client received before the pause (then silence until the clear).
    assert len(got["clears"]) == 1, got["clears"]
    # (A response still streaming is cancelled; the stand-in streams 4× faster than real time,
    # so by the time our own detector commits, reply 1 has usually been sent whole.)
    assert len(by_type("response.cancel")) == (1 if turn_detection == "server" else len(by_type("response.cancel"))) <= 1
    truncates = by_type("conversation.item.truncate")
    assert [t["item_id"] for t in truncates] == ["item_standin_1"]
    first_reply_sample = next(i for i, s in enumerate(got["received"]) if s != 0)
    last_heard_sample = max(i for i, s in enumerate(got["received"][:got["clears"][0]]) if s != 0)
    heard_ms = (last_heard_sample + 1 - first_reply_sample) / 8
    print(f"truncated at {truncates[0]['audio_end_ms']} ms; this client received {heard_ms:.0f} ms of the reply before the pause")
    assert abs(truncates[0]["audio_end_ms"] - heard_ms) <= 20, (truncates[0]["audio_end_ms"], heard_ms)

    # Reply 2 played in full after the clear, and its mark came back after its audio.
    after_clear = got["received"][got["clears"][0]:]
    assert loud_frames(after_clear) >= 95, loud_frames(after_clear)
    assert len(got["marks"]) == 1, got["marks"]
    assert got["marks"][0][1] >= got["clears"][0] + 1900 * 8
    assert not got["unknown"], got["unknown"]

    # The Twilio transport's counters in the Prometheus text (the `transport` label).
    def twilio(name, **labels):
        return metrics["audiobridge_" + name + '{transport="twilio"' + "".join(f',{k}="{v}"' for k, v in labels.items()) + "}"]
    assert twilio("calls_total") == "1" and twilio("flushes_total") == "1" and twilio("barge_ins_total", outcome="committed") == "1"
    # The voice in the room paused reply 2 and it resumed (no clear). The caller's words paused
    # reply 1 too when our detector heard them first (always with local turn detection).
    pauses, resumes = int(twilio("barge_ins_total", outcome="paused")), int(twilio("barge_ins_total", outcome="resumed"))
    assert resumes == 1 and pauses == (2 if turn_detection == "local" else pauses) and pauses in (1, 2), (pauses, resumes)
    assert int(twilio("frames_in_total")) >= frames - 5
    assert twilio("marks_confirmed_total") == "1" and twilio("protocol_errors_total") == "0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def twilio_signature(token: str, url: str, form: dict) -> str:
    """Twilio's documented scheme: HMAC-SHA1 over the URL and the sorted name+value pairs, base64."""
    data = url + "".join(name + form[name] for name in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def post(url: str, form: dict, signature: str = None):
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    if signature is not None:
        request.add_header("X-Twilio-Signature", signature)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_webhook_signatures_from_an_independent_signer():
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    token = "peer-test-auth-token"
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--twilio", f"127.0.0.1:{port}",
                  "--twilio-public-url", public, "--agent", "echo", "--log-level", "warning"], env={"TWILIO_AUTH_TOKEN": token}) as bridge:
        listening_port(bridge, "Twilio")
        form = {"CallSid": "CA0123456789abcdef", "From": "+14155550100", "To": "+14155550199", "Direction": "inbound"}
        url = public + "/twilio/voice"
        status, twiml = post(url, form, twilio_signature(token, url, form))
        assert status == 200
        assert f'url="ws://127.0.0.1:{port}/twilio/media"' in twiml and 'value="+14155550100"' in twiml, twiml
        # Tampered (another caller), signed for another URL, or unsigned: 403.
        assert post(url, {**form, "From": "+19005550000"}, twilio_signature(token, url, form))[0] == 403
        assert post(url, form, twilio_signature(token, url + "?x=1", form))[0] == 403
        assert post(url, form)[0] == 403
        # The outbound webhook signs over its query string too.
        outbound = public + "/twilio/outbound?purpose=renewal"
        status, twiml = post(outbound, form, twilio_signature(token, outbound, form))
        assert status == 200 and 'value="renewal"' in twiml, twiml


def self_signed_certificate(directory) -> tuple:
    """A key and a certificate for 127.0.0.1, valid for a day, from the openssl command."""
    key, certificate = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate], check=True, capture_output=True)
    return certificate, key


def test_a_dropped_model_connection_loses_nothing(tmp_path):
    """The model stand-in over wss:// with a self-signed certificate the bridge trusts through
    --agent-ca-file, and a gateway-style key in --agent-header (no OPENAI_API_KEY). It drops its
    first connection, without a close frame, 300 ms after it finished streaming its first answer
    (3 s at four times real time), while the caller is still hearing it. The caller then talks
    over the rest. Asserted: the answer plays on across the drop (no clear, no hole); the one
    clear comes with the caller's words; nothing about the old connection's item is sent to the
    new one; the new connection is given the conversation so far (the caller's transcribed turn
    and the answer) right after its session.update; the log names the drop's cause."""
    certificate, key = self_signed_certificate(tmp_path)
    events_file = tmp_path / "model-events.jsonl"
    with running([BIN / "realtime-standin", "--reply-ms", "3000", "--events", events_file, "--cert", certificate, "--key", key,
                  "--drop-after-first-answer-ms", "300"]) as model:
        model_url = model.wait_for(r"listening on (wss://\S+)").group(1)
        with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--twilio", "127.0.0.1:0", "--agent", "openai",
                      "--openai-url", model_url, "--agent-ca-file", certificate, "--agent-header", "api-key: peer-key"],
                     env={"OPENAI_API_KEY": ""}) as bridge:
            port = listening_port(bridge, "Twilio")
            # The WAV's first phrase (0.52 s): the stand-in answers 0.4 s after it, from ~0.95 s
            # to ~3.95 s, streamed whole by ~1.7 s, dropped at ~2.0 s. Quiet until 3.0 s, then
            # the second phrase (0.4 s) over the answer's last second.
            caller = SPEECH[:26 * FRAME] + SILENCE * (124 * FRAME) + SPEECH[36 * FRAME:56 * FRAME]
            got = asyncio.run(twilio_stream(f"ws://127.0.0.1:{port}/twilio/media", caller, 300, {}))
            bridge_log = list(bridge.lines)
    lines = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    upgrades = [line["event"]["headers"] for line in lines if line["event"]["type"] == "_upgrade"]
    events = [(line["connection"], line["event"]) for line in lines if line["event"]["type"] != "_upgrade"]

    assert len(upgrades) == 2 and all(h.get("api-key") == "peer-key" and "authorization" not in h for h in upgrades), upgrades
    assert [c for c, e in events if e["type"] == "session.update"] == [0, 1]
    # The answer played across the drop: from its first sample to the clear, every frame voiced
    # but for the stand-in's syllable dips; the one clear came with the caller's second phrase
    # (frame 150 on). Counted in frames the caller had sent, not in samples it had received: a run
    # on a loaded machine failed with 139 frames received at the clear, 11 short of the phrase, and
    # received audio need not keep step with sent audio (it starts and is paced on the bridge's side).
    assert len(got["clears"]) == 1 and got["clears_after_sent"][0] > 150, (got["clears"], got["clears_after_sent"])
    first = next(i for i, s in enumerate(got["received"]) if s != 0)
    played = got["received"][first:got["clears"][0]]
    assert len(played) >= 2.0 * 8000 and loud_frames(played) >= len(played) // FRAME - 6, (len(played), loud_frames(played))
    # Nothing of the dead connection's item was asked of the new one (the cut stayed local).
    assert not [e for c, e in events if e["type"] in ("conversation.item.truncate", "response.cancel")], \
        [e for c, e in events if e["type"] in ("conversation.item.truncate", "response.cancel")]
    # The new connection was told the conversation, right after its session.update.
    second = [e for c, e in events if c == 1]
    assert [e["type"] for e in second[:3]] == ["session.update", "conversation.item.create", "conversation.item.create"], second[:4]
    assert [(e["item"]["role"], e["item"]["content"][0]["text"]) for e in second[1:3]] == [("user", "caller turn 1"), ("assistant", "reply 1")]
    assert any("Realtime connection lost" in line and "the connection ended without a close frame" in line for line in bridge_log), bridge_log[-20:]


class FakeTwilioAPI:
    """Twilio's REST API on loopback, as far as a call update goes: records each POST (path,
    Authorization, form) and answers 200 with the call resource, as Twilio does."""

    def __init__(self):
        import http.server
        import threading
        requests = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                requests.append((self.path, self.headers["Authorization"], urllib.parse.parse_qs(body.decode())))
                answer = json.dumps({"sid": "CApeer", "status": "in-progress"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_the_model_transfers_then_ends_a_twilio_call():
    """The model stand-in's first reply ends with transfer_call, its second with end_call. Each
    is carried out once the caller has heard the reply to its end, through Twilio's REST API
    (a local stand-in of it, with the account's basic auth): the call's TwiML replaced by a
    <Dial> to the target, then Status=completed, and the stream closed by the bridge. The model
    gets each outcome as the call's output, and was offered transfer_call (REST configured) but
    not send_dtmf (Media Streams cannot send digits)."""
    api = FakeTwilioAPI()
    import tempfile
    with tempfile.TemporaryDirectory() as directory:
        events_file = f"{directory}/model-events.jsonl"
        with running([BIN / "realtime-standin", "--reply-ms", "1000", "--events", events_file,
                      "--tool-call", 'transfer_call:{"target":"+14155550100"}', "--tool-call", 'end_call:{"reason":"done"}']) as model:
            model_url = model.wait_for(r"listening on (ws://\S+)").group(1)
            with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--twilio", "127.0.0.1:0", "--agent", "openai",
                          "--openai-url", model_url, "--twilio-api-url", api.url],
                         env={"OPENAI_API_KEY": "sk-peer-test", "TWILIO_AUTH_TOKEN": "peer-token"}) as bridge:
                port = listening_port(bridge, "Twilio")
                # The stream's handshake is signed now that the auth token is set: sign it as Twilio would.
                url = f"ws://127.0.0.1:{port}/twilio/media"
                signature = twilio_signature("peer-token", f"wss://127.0.0.1:{port}/twilio/media", {})
                got = asyncio.run(twilio_stream(url, SPEECH[:26 * FRAME], 400, {}, headers={"X-Twilio-Signature": signature}))
        lines = [json.loads(line) for line in open(events_file).read().splitlines() if line.strip()]
    api.close()
    events = [line["event"] for line in lines if line["event"]["type"] != "_upgrade"]

    tools = [t["name"] for t in next(e for e in events if e["type"] == "session.update")["session"]["tools"]]
    assert tools == ["end_call", "transfer_call"], tools
    assert len(api.requests) == 2, api.requests
    expected_auth = "Basic " + base64.b64encode(b"ACpeer:peer-token").decode()
    assert all(path == "/2010-04-01/Accounts/ACpeer/Calls/CApeer.json" and auth == expected_auth for path, auth, _ in api.requests), api.requests
    assert api.requests[0][2] == {"Twiml": ['<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Number>+14155550100</Number></Dial></Response>']}
    assert api.requests[1][2] == {"Status": ["completed"]}
    outputs = [json.loads(e["item"]["output"]) for e in events if e["type"] == "conversation.item.create" and e["item"]["type"] == "function_call_output"]
    assert [o["ok"] for o in outputs] == [True, True], outputs
    # Both replies heard whole (1 s each), then the bridge closed the stream, well before the caller's 8 s.
    assert got["closed_at_frame"] is not None and got["closed_at_frame"] < 300, got["closed_at_frame"]
    assert loud_frames(got["received"]) >= 96, loud_frames(got["received"])
