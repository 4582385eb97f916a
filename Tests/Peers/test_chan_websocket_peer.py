# SPDX-License-Identifier: MIT
"""`serve --asterisk-ws` against a client written from Asterisk's chan_websocket description
(protocols.md §2.4), playing Asterisk's part with Python `websockets` (which offers
permessage-deflate): MEDIA_START, then μ-law frames every 20 ms. With the echo agent the
caller's words come back as BINARY frames; the test checks them byte for byte, that MEDIA_XOFF
stops them without losing any, that each finished item is marked, that talking over the echo
brings FLUSH_MEDIA with the heard position the server logs, that DTMF_END becomes a digit, and
that a malformed or oversized message hurts nobody else."""
import asyncio
import json
import re
import time

import websockets

from peers import BIN, listening_port, running, talk, ulaw_encode

FRAME = 160
SILENCE = bytes([0xFF]) * FRAME


def ulaw(samples):
    return bytes(ulaw_encode(s) for s in samples)


class Asterisk:
    """One chan_websocket channel, as Asterisk runs it: a frame every 20 ms, whatever arrives
    recorded with its arrival time."""

    def __init__(self, ws):
        self.ws = ws
        self.received = []  # (seconds since start, "audio"|"text", payload)
        self.start = time.monotonic()

    async def read(self):
        try:
            async for message in self.ws:
                kind = "audio" if isinstance(message, bytes) else "text"
                self.received.append((time.monotonic() - self.start, kind, message))
                if kind == "text" and message.startswith("MARK_MEDIA"):
                    await self.ws.send("MEDIA_MARK_PROCESSED correlation_id:" + message.split()[1])
        except websockets.ConnectionClosed:
            pass

    def texts(self):
        return [payload for _, kind, payload in self.received if kind == "text"]


async def call_scenario(port, server):
    caller = {}
    async with websockets.connect(f"ws://127.0.0.1:{port}/media") as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        asterisk = Asterisk(ws)
        reader = asyncio.create_task(asterisk.read())
        await ws.send("MEDIA_START connection_id:c1 channel:WebSocket/c1/0x1 channel_id:1761.1 format:ulaw optimal_frame_size:160 ptime:20")
        first = ulaw(talk(1.2, seed=0.3))
        second = ulaw(talk(1.2, seed=1.7))
        third = ulaw(talk(1.0, seed=2.9))
        sent = bytearray()
        plan = {}
        for n in range(10, 70):
            plan[n] = first[(n - 10) * FRAME:(n - 9) * FRAME]
        for n in range(260, 320):
            plan[n] = second[(n - 260) * FRAME:(n - 259) * FRAME]
        marks = {}
        start = time.monotonic()
        for n in range(500):
            frame = plan.get(n, SILENCE)
            # Talk over the second echo once 20 of its frames have arrived.
            if "barge" not in marks and n > 320:
                item2 = [t for t, kind, p in asterisk.received if kind == "audio" and t > marks.get("first_done", 1e9)]
                if len(item2) >= 20:
                    marks["barge"] = n
            if "barge" in marks and n - marks["barge"] < 50:
                k = n - marks["barge"]
                frame = third[k * FRAME:(k + 1) * FRAME]
            sent += frame
            await ws.send(frame)
            if n == 115:
                await ws.send("MEDIA_XOFF")
                marks["xoff"] = time.monotonic() - asterisk.start
            if n == 135:
                marks["xon"] = time.monotonic() - asterisk.start
                await ws.send("MEDIA_XON")
            if n == 150:
                await ws.send("DTMF_END digit:5 channel_id:1761.1")
            if n == 160:
                await ws.send("{not json and not a known event")
            if "first_done" not in marks and any(p.startswith("MARK_MEDIA") for p in asterisk.texts()):
                marks["first_done"] = time.monotonic() - asterisk.start
            await asyncio.sleep(max(0, start + (n + 1) * 0.02 - time.monotonic()))
        await ws.close()
        await reader
    caller.update(asterisk=asterisk, sent=bytes(sent), marks=marks, extensions=extensions, first=first)
    return caller


async def oversized_call(port):
    """Another call that sends a message over the limit: closed with 1009, alone."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/media", max_size=None) as ws:
        await ws.send(json.dumps({"event": "MEDIA_START", "connection_id": "c2", "channel": "WebSocket/c2/0x2",
                                  "channel_id": "1761.2", "format": "ulaw", "optimal_frame_size": 160, "ptime": 20}))
        answer = await asyncio.wait_for(ws.recv(), 5)
        await asyncio.sleep(1.0)
        await ws.send(bytes(70_000))
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as closed:
            return answer, closed.rcvd.code if closed.rcvd else None


def test_chan_websocket_call():
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--asterisk-ws", "127.0.0.1:0", "--agent", "echo"]) as server:
        port = listening_port(server, "Asterisk chan_websocket")

        async def both():
            return await asyncio.gather(call_scenario(port, server), oversized_call(port))

        result, (json_answer, oversize_code) = asyncio.run(both())
        server.wait_for(r"barge-in")
        log = "\n".join(server.lines)

    asterisk, sent, marks = result["asterisk"], result["sent"], result["marks"]
    assert "permessage-deflate" in result["extensions"], "the server took up the client's permessage-deflate offer"
    assert json.loads(json_answer) == {"command": "ANSWER"}, "commands come in the channel's own format (JSON here)"
    assert oversize_code == 1009

    texts = asterisk.texts()
    assert texts[0] == "ANSWER"
    # The first echo: every frame of it, in one piece, is a stretch of what the caller sent.
    audio = [(t, p) for t, kind, p in asterisk.received if kind == "audio"]
    first_mark = next(t for t, kind, p in asterisk.received if kind == "text" and p == "MARK_MEDIA item-1")
    item1 = b"".join(p for t, p in audio if t < first_mark)
    assert len(item1) >= 55 * FRAME, f"{len(item1) // FRAME} frames of the first echo"
    loud = next(k for k in range(0, len(item1), FRAME) if item1[k:k + FRAME] != SILENCE)
    offset = sent.find(item1[loud:loud + FRAME]) - loud
    assert offset >= 0 and sent[offset:offset + len(item1)] == item1, "the echo is the caller's audio, byte for byte, none lost"
    assert result["first"][FRAME:2 * FRAME] in item1
    # MEDIA_XOFF: nothing while paused (a frame may already be on its way), then the rest.
    paused = [t for t, p in audio if marks["xoff"] + 0.045 < t < marks["xon"]]
    assert paused == [], f"{len(paused)} frames arrived while paused"
    # The second echo was cut: FLUSH_MEDIA, no mark for it, and the heard position the server
    # logged matches the frames this side received before the flush.
    flush_at = next(t for t, kind, p in asterisk.received if kind == "text" and p == "FLUSH_MEDIA")
    item2 = [p for t, p in audio if first_mark < t < flush_at]
    heard = int(re.search(r"heard_ms=(\d+) item=2 .*barge-in", log).group(1))
    assert abs(heard - 20 * len(item2)) <= 40, f"heard {heard} ms, received {20 * len(item2)} ms"
    assert [p for p in texts if p.startswith("MARK_MEDIA")] == ["MARK_MEDIA item-1"]
    assert "digit=5" in log


async def paused_call(port, burst_at: int, burst: bytes, frames: int):
    """A call whose agent plays a 3 s tone; the caller is silent but for `burst` at frame
    `burst_at`. Returns what Asterisk received."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/media") as ws:
        asterisk = Asterisk(ws)
        reader = asyncio.create_task(asterisk.read())
        await ws.send("MEDIA_START connection_id:c3 channel:WebSocket/c3/0x3 channel_id:1761.3 format:ulaw optimal_frame_size:160 ptime:20")
        start = time.monotonic()
        for n in range(frames):
            k = n - burst_at
            frame = burst[k * FRAME:(k + 1) * FRAME] if 0 <= k < len(burst) // FRAME else SILENCE
            await ws.send(frame)
            await asyncio.sleep(max(0, start + (n + 1) * 0.02 - time.monotonic()))
        await ws.close()
        await reader
    return asterisk


def test_chan_websocket_short_sound_pauses_and_resumes_without_a_flush():
    """A short sound over the agent (120 ms) pauses its audio — no frames for the pause — and the
    rest follows: all of the 3 s tone arrives before its mark, no FLUSH_MEDIA.
    Talking on instead commits: FLUSH_MEDIA, and item 1 is never marked."""
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--asterisk-ws", "127.0.0.1:0",
                  "--agent", "tone:440:3000"]) as server:
        port = listening_port(server, "Asterisk chan_websocket")
        resumed = asyncio.run(paused_call(port, 50, ulaw(talk(0.12, seed=0.5)), 230))
        committed = asyncio.run(paused_call(port, 50, ulaw(talk(1.0, seed=0.5)), 230))
    texts = resumed.texts()
    assert "FLUSH_MEDIA" not in texts, texts
    assert "MARK_MEDIA item-1" in texts, texts
    # (The tone agent answers the short sound with another tone, item 2, after item 1.)
    item1_done = next(t for t, kind, p in resumed.received if kind == "text" and p == "MARK_MEDIA item-1")
    audio = [t for t, kind, p in resumed.received if kind == "audio" and t < item1_done]
    # 150 frames of tone, and one more: the frame that paused carries the first 8 ms of its 20
    # (faded out), the frame that resumed starts from exactly there.
    assert len(audio) == 151, f"{len(audio)} frames for the tone's 150"
    gaps = [b - a for a, b in zip(audio, audio[1:])]
    assert max(gaps) >= 0.2, f"no pause in the agent's audio: longest gap {max(gaps):.3f} s"
    assert "FLUSH_MEDIA" in committed.texts(), committed.texts()
    assert "MARK_MEDIA item-1" not in committed.texts()


def test_the_model_ends_a_chan_websocket_call_with_hangup():
    """The model stand-in answers the caller's words with a 1 s reply that ends with end_call:
    once Asterisk has been sent the whole reply, the bridge sends HANGUP (Asterisk then hangs the
    channel up and closes the socket). The model was offered end_call only: chan_websocket has
    no transfer and no way to send digits."""
    import tempfile

    async def call(port):
        async with websockets.connect(f"ws://127.0.0.1:{port}/media") as ws:
            asterisk = Asterisk(ws)
            reader = asyncio.create_task(asterisk.read())
            await ws.send("MEDIA_START connection_id:c4 channel:WebSocket/c4/0x4 channel_id:1761.4 format:ulaw optimal_frame_size:160 ptime:20")
            words = ulaw(talk(0.6, level=12000))
            start = time.monotonic()
            for n in range(250):
                if any(kind == "text" and p == "HANGUP" for _, kind, p in asterisk.received):
                    break
                await ws.send(words[n * FRAME:(n + 1) * FRAME] if n < len(words) // FRAME else SILENCE)
                await asyncio.sleep(max(0, start + (n + 1) * 0.02 - time.monotonic()))
            await ws.close()
            await reader
        return asterisk

    with tempfile.TemporaryDirectory() as directory:
        events_file = f"{directory}/model-events.jsonl"
        with running([BIN / "realtime-standin", "--reply-ms", "1000", "--events", events_file, "--tool-call", "end_call:{}"]) as model:
            model_url = model.wait_for(r"listening on (ws://\S+)").group(1)
            with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--asterisk-ws", "127.0.0.1:0", "--agent", "openai",
                          "--openai-url", model_url], env={"OPENAI_API_KEY": "sk-peer-test"}) as server:
                port = listening_port(server, "Asterisk chan_websocket")
                asterisk = asyncio.run(call(port))
        events = [json.loads(line)["event"] for line in open(events_file).read().splitlines() if line.strip()]

    texts = asterisk.texts()
    assert "HANGUP" in texts, texts
    hangup_at = next(t for t, kind, p in asterisk.received if kind == "text" and p == "HANGUP")
    reply = [p for t, kind, p in asterisk.received if kind == "audio" and t < hangup_at]
    assert len(b"".join(reply)) >= 49 * FRAME, f"{len(b''.join(reply)) // FRAME} frames of the 1 s reply before HANGUP"
    assert not [p for t, kind, p in asterisk.received if kind == "audio" and t > hangup_at], "nothing after HANGUP"
    update = next(e for e in events if e["type"] == "session.update")
    assert [t["name"] for t in update["session"]["tools"]] == ["end_call"]
