# SPDX-License-Identifier: MIT
"""`audiobridge serve --agent ws://…` (the raw-PCM agent protocol) against independent peers: a
model server written here with Python `websockets` from the protocol description, and an
AudioSocket caller written from Asterisk's wire format. Each agent utterance is a tone of its
own frequency, so what the caller heard can be told apart frame by frame."""
import array
import asyncio
import json
import math
import struct
import uuid

import websockets

from peers import BIN, listening_port, running, talk

AGENT_RATE = 16000
TONES = {"greeting": 300, "long": 500, "after": 700, "selfcut": 900, "stale": 1500}


def tone(name: str, seconds: float) -> bytes:
    f = TONES[name]
    samples = array.array("h", (int(8000 * math.sin(2 * math.pi * f * n / AGENT_RATE)) for n in range(int(AGENT_RATE * seconds))))
    return samples.tobytes()  # little-endian on every machine this runs on


def classify(frame: list) -> str:
    """The utterance a 20 ms frame at 8 kHz belongs to, from its zero crossings (f/25 per frame)."""
    if max(abs(s) for s in frame) < 500:
        return "silence"
    crossings = sum(1 for a, b in zip(frame, frame[1:]) if (a < 0) != (b < 0))
    name, f = min(TONES.items(), key=lambda item: abs(item[1] / 25 - crossings))
    return name if abs(f / 25 - crossings) <= 3 else "mixed"


class ModelServer:
    """The user's own model server, scripted: greeting, a long answer the caller talks over
    (with stale audio in flight after the bridge's clear), a short answer, then one it
    interrupts itself."""

    def __init__(self):
        self.start = None
        self.caller_frames = []
        self.control = []
        self.clear_heard_ms = None
        self.cleared_by_bridge = None
        self.error = None
        self._arrived = asyncio.Condition()

    async def _wait(self, predicate, timeout=8):
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(predicate), timeout)

    def _has(self, kind, **fields):
        return lambda: any(m.get("type") == kind and all(m.get(k) == v for k, v in fields.items()) for m in self.control)

    async def _read(self, ws):
        async for message in ws:
            async with self._arrived:
                if isinstance(message, bytes):
                    self.caller_frames.append(message)
                else:
                    self.control.append(json.loads(message))
                self._arrived.notify_all()

    async def handler(self, ws):
        try:
            self.start = json.loads(await ws.recv())
            reader = asyncio.create_task(self._read(ws))

            async def say(name, seconds, chunk=999):  # odd sizes: samples split across messages
                audio = tone(name, seconds)
                for i in range(0, len(audio), chunk):
                    await ws.send(audio[i:i + chunk])

            await say("greeting", 1.0)
            await ws.send(json.dumps({"type": "mark", "name": "greeting"}))
            await self._wait(self._has("mark", name="greeting"))
            await say("long", 3.0)
            await ws.send(json.dumps({"type": "mark", "name": "long"}))
            await self._wait(self._has("clear"))
            clear = next(m for m in self.control if m["type"] == "clear")
            await say("stale", 0.5)  # in flight when the clear crossed it: must not be heard
            await ws.send(json.dumps({"type": "cleared", "id": clear["id"]}))
            await asyncio.sleep(1.0)  # the caller finishes talking
            await say("after", 0.5)
            await ws.send(json.dumps({"type": "mark", "name": "after"}))
            await self._wait(self._has("mark", name="after"))
            await say("selfcut", 2.0)
            await ws.send(json.dumps({"type": "mark", "name": "selfcut"}))
            await asyncio.sleep(0.3)
            await ws.send(json.dumps({"type": "clear", "id": 7}))
            await self._wait(self._has("cleared", id=7))
            await self._wait(self._has("stop"))
            await reader
        except Exception as error:  # reported by the test, not lost in the server task
            self.error = repr(error)


async def audiosocket_call(port: int, call_id: uuid.UUID, caller: list, frames: int, dtmf: dict, outcome: dict = None) -> list:
    """An Asterisk-like AudioSocket caller: UUID, then one slin 8 kHz frame every 20 ms (and DTMF),
    then hangup; returns what it heard. When the server hangs up first the caller stops there,
    and `outcome["hung_up_at_frame"]` is the frame it was at."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    heard = []
    outcome = {} if outcome is None else outcome

    async def receive():
        while True:
            header = await reader.readexactly(3)
            kind, length = header[0], struct.unpack(">H", header[1:])[0]
            payload = await reader.readexactly(length)
            if kind == 0x10:
                heard.extend(array.array("h", payload))
            elif kind == 0x00:
                outcome["hung_up"] = True
                return

    receiver = asyncio.create_task(receive())
    writer.write(b"\x01\x00\x10" + call_id.bytes)
    padded = caller + [0] * max(0, frames * 160 - len(caller))
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(frames):
        if outcome.get("hung_up"):
            outcome["hung_up_at_frame"] = n
            writer.close()
            return heard
        if n in dtmf:
            writer.write(b"\x03\x00\x01" + dtmf[n].encode())
        writer.write(b"\x10\x01\x40" + array.array("h", padded[n * 160:(n + 1) * 160]).tobytes())
        await writer.drain()
        await asyncio.sleep(max(0, start + (n + 1) * 0.02 - loop.time()))
    await asyncio.sleep(0.2)
    writer.write(b"\x00\x00\x00")
    await writer.drain()
    receiver.cancel()
    writer.close()
    return heard


async def bridged_call(handler, call_id: uuid.UUID, caller: list, frames: int, dtmf: dict, outcome: dict = None):
    """`handler` serves the agent WebSocket; the bridge connects one AudioSocket call to it.
    Returns what the caller heard and the bridge's log lines."""
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=1 << 20) as server:
        ws_port = server.sockets[0].getsockname()[1]
        with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--agent", f"ws://127.0.0.1:{ws_port}/agent",
                      "--agent-rate", str(AGENT_RATE), "--log-level", "warning"]) as bridge:
            port = await asyncio.get_running_loop().run_in_executor(None, listening_port, bridge, "AudioSocket")
            heard = await audiosocket_call(port, call_id, caller, frames, dtmf, outcome)
            await asyncio.sleep(0.5)  # the stop message
            return heard, list(bridge.lines)


async def run_call(model: ModelServer, call_id: uuid.UUID):
    # quiet 2 s (greeting, then the long answer starts) · talk 0.6 s over it · quiet
    heard, _ = await bridged_call(model.handler, call_id, [0] * 16000 + talk(0.6), 250, {25: "5"})
    return heard


def test_raw_pcm_agent_against_an_independent_server():
    model = ModelServer()
    call_id = uuid.uuid4()
    heard = asyncio.run(run_call(model, call_id))
    assert model.error is None, model.error
    frames = [classify(heard[i:i + 160]) for i in range(0, len(heard) - 159, 160)]
    count = lambda name: frames.count(name)
    of_type = lambda kind: [m for m in model.control if m["type"] == kind]

    # start declares the format and the call.
    assert model.start["type"] == "start" and model.start["version"] == 1
    assert model.start["sampleRate"] == AGENT_RATE and model.start["encoding"] == "pcm16le" and model.start["channels"] == 1
    assert model.start["callId"] == str(call_id) and model.start["metadata"]["callId"] == str(call_id)
    # Caller audio: one 20 ms frame per message at 16 kHz, all of it, the talk in frames 100–130.
    assert 245 <= len(model.caller_frames) <= 250 and all(len(f) == 640 for f in model.caller_frames)
    level = lambda f: max(abs(s) for s in array.array("h", f))
    assert all(level(f) > 1000 for f in model.caller_frames[102:128]) and all(level(f) < 100 for f in model.caller_frames[:95])
    # DTMF once.
    assert of_type("dtmf") == [{"type": "dtmf", "digit": "5"}]

    # What the caller heard: the greeting whole, part of the long answer, none of the stale
    # audio, the short answer whole, and the part of the last one before the server cut it.
    assert abs(count("greeting") - 50) <= 2, frames
    assert count("stale") == 0, frames
    assert abs(count("after") - 25) <= 2, frames
    # The bridge's clear: once, with the heard position of the long answer.
    clears = of_type("clear")
    assert len(clears) == 1 and clears[0]["id"] == 1, clears
    assert abs(clears[0]["heardMs"] - count("long") * 20) <= 40, (clears[0], count("long"))
    # It was a pause first, at the same heard position, and no resume came before the clear.
    kinds = [m["type"] for m in model.control]
    at_clear = kinds.index("clear")
    at_pause = max((i for i, kind in enumerate(kinds[:at_clear]) if kind == "pause"), default=None)
    assert at_pause is not None and "resume" not in kinds[at_pause:at_clear], kinds
    assert model.control[at_pause]["heardMs"] == clears[0]["heardMs"], (model.control[at_pause], clears)
    # The server's clear: answered with what the caller heard of that answer.
    cleared = of_type("cleared")
    assert len(cleared) == 1 and cleared[0]["id"] == 7, cleared
    assert 150 <= cleared[0]["heardMs"] <= 450 and abs(cleared[0]["heardMs"] - count("selfcut") * 20) <= 40, (cleared, count("selfcut"))
    # Marks come back once heard, in order; the cut answers' never.
    assert [m["name"] for m in of_type("mark")] == ["greeting", "after"]
    assert of_type("stop") == [{"type": "stop", "reason": "hangup"}]


def test_a_dropped_agent_connection_lets_the_answer_finish():
    """The server sends a 2 s answer at once, marks it, and 300 ms later its connection is cut
    (no close frame). The caller hears the whole answer with no hole and no fallback tone in
    it; the bridge reconnects and starts the call afresh on the new connection, where the old
    connection's mark is never echoed (nobody could hear it)."""
    connections = []

    async def handler(ws):
        connections.append({"start": json.loads(await ws.recv()), "control": []})
        mine = connections[-1]
        if len(connections) == 1:
            await ws.send(tone("long", 2.0))
            await ws.send(json.dumps({"type": "mark", "name": "long"}))
            await asyncio.sleep(0.3)
            ws.transport.abort()
            return
        async for message in ws:
            if isinstance(message, str):
                mine["control"].append(json.loads(message))

    heard, log = asyncio.run(bridged_call(handler, uuid.uuid4(), [], 175, {}))
    frames = [classify(heard[i:i + 160]) for i in range(0, len(heard) - 159, 160)]
    assert len(connections) == 2, log
    assert abs(frames.count("long") - 100) <= 2, frames
    start = frames.index("long")
    assert frames[start:start + 98].count("long") >= 97, frames[start:start + 100]
    assert connections[1]["start"]["type"] == "start"
    assert not [m for m in connections[1]["control"] if m["type"] == "mark"], connections[1]["control"]
    assert any("agent connection lost" in line and "without a close frame" in line for line in log), log


def test_the_agent_server_controls_the_call():
    """The server learns from `start` what the phone side can do (AudioSocket: neither transfer
    nor key presses), asks for both anyway and is refused with a result each, then sends a 1 s
    answer and `hangup`: the caller hears the whole answer, then AudioSocket's hang-up, long
    before the caller would have hung up."""
    got = {"control": []}

    async def handler(ws):
        got["start"] = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "send_dtmf", "id": 1, "digits": "12"}))
        await ws.send(json.dumps({"type": "transfer", "id": 2, "target": "+14155550100"}))
        await ws.send(tone("greeting", 1.0))
        await ws.send(json.dumps({"type": "hangup", "reason": "the caller is done"}))
        try:
            async for message in ws:
                if isinstance(message, str):
                    got["control"].append(json.loads(message))
        except websockets.ConnectionClosed:
            pass

    outcome = {}
    heard, _ = asyncio.run(bridged_call(handler, uuid.uuid4(), [], 250, {}, outcome))
    hung_up_at = outcome.get("hung_up_at_frame")
    assert got["start"]["abilities"] == {"transfer": False, "sendDtmf": False}
    results = [m for m in got["control"] if m["type"] == "result"]
    assert [(r["id"], r["ok"]) for r in results] == [(1, False), (2, False)], results
    assert all(r["error"] for r in results)
    frames = [classify(heard[i:i + 160]) for i in range(0, len(heard) - 159, 160)]
    assert abs(frames.count("greeting") - 50) <= 2, frames
    assert hung_up_at is not None and hung_up_at < 120, hung_up_at

