# SPDX-License-Identifier: MIT
"""A local stand-in for Google's Gemini Live API (BidiGenerateContent over a WebSocket), written
from its public reference: it takes a setup message first and answers setupComplete, hears the
caller's turns in 16 kHz realtimeInput audio with a crude level detector (or takes
activityStart/activityEnd when the setup turns automatic detection off), and answers each turn
with serverContent parts of 24 kHz audio (four times faster than real time), transcriptions, a
sessionResumptionUpdate and turnComplete. Options make it interrupt itself when the caller talks
over an answer (interrupted), ask for a tool call instead of its first answer, or send goAway
after its first answer (then close the connection half a second later). It runs in the test's
own asyncio loop and records what it received."""
import asyncio
import base64
import json
import math

import websockets

from deepgram_standin import answer_signal

IN_RATE, OUT_RATE = 16000, 24000


class GeminiStandIn:
    def __init__(self, reply_ms=1000, interrupt=False, tool_call=None, go_away_after_first_answer=False):
        self.reply_ms = reply_ms
        self.interrupt = interrupt
        self.tool_call = tool_call
        self.go_away = go_away_after_first_answer
        self.connections = []  # per connection: {"path", "headers", "messages", "audio": bytearray}
        self.answers_sent = []  # (connection, PCM16 samples at 24 kHz)
        self.interruptions = 0
        self.handles = 0
        self.server = None
        self.port = None

    async def start(self):
        self.server = await websockets.serve(self._serve, "127.0.0.1", 0, max_size=1 << 24, compression=None)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()

    def messages(self, key):
        return [(i, m[key]) for i, c in enumerate(self.connections) for m in c["messages"] if key in m]

    async def _serve(self, ws):
        index = len(self.connections)
        record = {"path": ws.request.path, "headers": {k.lower(): v for k, v in ws.request.headers.raw_items()}, "messages": [], "audio": bytearray()}
        self.connections.append(record)
        first = json.loads(await ws.recv())
        record["messages"].append(first)
        if "setup" not in first:
            await ws.close(1007, "setup first")
            return
        automatic = not first["setup"].get("realtimeInputConfig", {}).get("automaticActivityDetection", {}).get("disabled", False)
        await ws.send(json.dumps({"setupComplete": {}}))
        state = {"speech_ms": 0, "quiet_ms": 0, "turns": 0, "answering": None, "pending": bytearray()}

        async def send(message):
            await ws.send(json.dumps(message))

        async def answer(number, text):
            samples = answer_signal(self.reply_ms, OUT_RATE, number)
            self.answers_sent.append((index, samples))
            await send({"serverContent": {"outputTranscription": {"text": text}}})
            chunk = OUT_RATE // 10
            for start in range(0, len(samples), chunk):
                if state["answering"] is None:
                    return
                data = b"".join(s.to_bytes(2, "little", signed=True) for s in samples[start:start + chunk])
                await send({"serverContent": {"modelTurn": {"parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": base64.b64encode(data).decode()}}]}}})
                await asyncio.sleep(0.025)
            self.handles += 1
            await send({"sessionResumptionUpdate": {"newHandle": f"handle-{self.handles}", "resumable": True}})
            await send({"serverContent": {"turnComplete": True}})
            if self.go_away and index == 0:
                await send({"goAway": {"timeLeft": "1s"}})
                await asyncio.sleep(0.5)
                await ws.close()

        async def run_answer(number, text):
            state["answering"] = number
            try:
                await answer(number, text)
            finally:
                await asyncio.sleep(self.reply_ms / 1000 * 0.75)
                if state["answering"] == number:
                    state["answering"] = None

        async def turn_ended():
            state["turns"] += 1
            number = state["turns"]
            await send({"serverContent": {"inputTranscription": {"text": f"caller turn {number}"}}})
            if number == 1 and self.tool_call:
                name, args = self.tool_call
                await send({"toolCall": {"functionCalls": [{"id": "call_standin_1", "name": name, "args": args}]}})
            elif state["answering"] is None:
                asyncio.ensure_future(run_answer(number, f"answer {number}"))

        async for message in ws:
            event = json.loads(message)
            realtime = event.get("realtimeInput", {})
            if "audio" not in realtime:
                record["messages"].append(event)
            if "toolResponse" in event:
                asyncio.ensure_future(run_answer(5, "Goodbye."))  # a pitch the 8 kHz phone side carries
            if "activityEnd" in realtime and not automatic:
                await turn_ended()
            if "audio" not in realtime:
                continue
            data = base64.b64decode(realtime["audio"]["data"])
            record["audio"] += data
            if not automatic:
                continue
            state["pending"] += data
            frame = IN_RATE // 50 * 2
            while len(state["pending"]) >= frame:
                chunk, state["pending"] = bytes(state["pending"][:frame]), state["pending"][frame:]
                samples = [int.from_bytes(chunk[i:i + 2], "little", signed=True) for i in range(0, frame, 2)]
                loud = math.sqrt(sum(s * s for s in samples) / len(samples)) > 1500
                state["speech_ms"] = state["speech_ms"] + 20 if loud else state["speech_ms"]
                state["quiet_ms"] = 0 if loud else state["quiet_ms"] + 20
                if loud and state["answering"] is not None and self.interrupt and state["speech_ms"] >= 100:
                    state["answering"] = None
                    self.interruptions += 1
                    await send({"serverContent": {"interrupted": True}})
                if state["speech_ms"] >= 300 and state["quiet_ms"] >= 500:
                    state["speech_ms"] = 0
                    await turn_ended()
