# SPDX-License-Identifier: MIT
"""A local stand-in for Deepgram's Voice Agent API, written from its public reference: a
WebSocket server that takes a Settings message first, then binary caller audio in the declared
encoding, hears the caller's turns with a crude level detector, and answers each turn with
AgentStartedSpeaking, a voiced test signal in the declared output encoding (sent four times
faster than real time), AgentAudioDone and ConversationText for both sides. Options make it
interrupt itself when the caller talks over an answer (UserStartedSpeaking), ask for a
function call instead of its first answer, or drop its first connection without a close frame.
It runs in the test's own asyncio loop and records what it received."""
import asyncio
import json
import math

import websockets

from peers import ulaw_decode, ulaw_encode


def answer_signal(milliseconds: int, rate: int, number: int) -> list:
    """A voiced, syllable-paced signal whose pitch tells answers apart. The pitch glides, so no
    stretch of it repeats (a test can tell which part of an answer it hears)."""
    pitch = 180 + 40 * number
    count = rate * milliseconds // 1000
    return [int(8000 * (0.6 + 0.4 * math.cos(2 * math.pi * 3 * t)) * math.sin(2 * math.pi * (pitch * t + 15 * t * t)))
            for t in (n / rate for n in range(count))]


class DeepgramStandIn:
    def __init__(self, reply_ms=1000, interrupt=False, tool_call=None, drop_first_connection=False):
        self.reply_ms = reply_ms
        self.interrupt = interrupt
        self.tool_call = tool_call  # e.g. ("end_call", '{"reason":"done"}'): asked for instead of answer 1
        self.drop_first_connection = drop_first_connection
        self.connections = []  # per connection: {"path", "headers", "messages", "audio": bytearray}
        self.answers_sent = []  # (connection index, encoded bytes of the answer)
        self.interruptions = 0  # UserStartedSpeaking sent
        self.server = None
        self.port = None

    async def start(self):
        self.server = await websockets.serve(self._serve, "127.0.0.1", 0, max_size=1 << 24, compression=None)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        self.server.close()
        await self.server.wait_closed()

    def messages(self, kind):
        return [(i, m) for i, c in enumerate(self.connections) for m in c["messages"] if m.get("type") == kind]

    async def _serve(self, ws):
        index = len(self.connections)
        record = {"path": ws.request.path, "headers": {k.lower(): v for k, v in ws.request.headers.raw_items()},
                  "messages": [], "audio": bytearray()}
        self.connections.append(record)
        await ws.send(json.dumps({"type": "Welcome", "request_id": f"standin-{index}"}))
        first = json.loads(await ws.recv())
        record["messages"].append(first)
        if first.get("type") != "Settings":
            await ws.close(1008, "Settings first")
            return
        audio_in, audio_out = first["audio"]["input"], first["audio"]["output"]
        await ws.send(json.dumps({"type": "SettingsApplied"}))
        decode = (lambda b: [ulaw_decode(x) for x in b]) if audio_in["encoding"] == "mulaw" else \
            (lambda b: [int.from_bytes(b[i:i + 2], "little", signed=True) for i in range(0, len(b) - 1, 2)])
        frame = audio_in["sample_rate"] // 50 * (1 if audio_in["encoding"] == "mulaw" else 2)
        state = {"speech_ms": 0, "quiet_ms": 0, "turns": 0, "answering": None, "pending": bytearray(), "function_done": asyncio.Event()}

        async def answer(number, text):
            rate = audio_out["sample_rate"]
            samples = answer_signal(self.reply_ms, rate, number)
            encoded = bytes(ulaw_encode(s) for s in samples) if audio_out["encoding"] == "mulaw" else \
                b"".join(s.to_bytes(2, "little", signed=True) for s in samples)
            self.answers_sent.append((index, encoded))
            await ws.send(json.dumps({"type": "AgentStartedSpeaking", "total_latency": 0.1}))
            await ws.send(json.dumps({"type": "ConversationText", "role": "assistant", "content": text}))
            chunk = rate // 10 * (1 if audio_out["encoding"] == "mulaw" else 2)  # 100 ms
            for start in range(0, len(encoded), chunk):
                if state["answering"] is None:
                    return  # interrupted
                await ws.send(encoded[start:start + chunk])
                await asyncio.sleep(0.025)  # four times real time
            await ws.send(json.dumps({"type": "AgentAudioDone"}))
            if self.drop_first_connection and index == 0:
                await asyncio.sleep(0.2)
                ws.transport.abort()  # no close frame

        async def run_answer(number, text):
            state["answering"] = number
            try:
                await answer(number, text)
            finally:
                # The answer plays out at the caller for reply_ms after it was sent: it counts as
                # "answering" for interruptions until then.
                await asyncio.sleep(self.reply_ms / 1000 * 0.75)
                if state["answering"] == number:
                    state["answering"] = None

        async for message in ws:
            if isinstance(message, str):
                event = json.loads(message)
                record["messages"].append(event)
                if event.get("type") == "FunctionCallResponse":
                    asyncio.ensure_future(run_answer(99, "Goodbye."))
                continue
            record["audio"] += message
            state["pending"] += message
            while len(state["pending"]) >= frame:
                chunk, state["pending"] = bytes(state["pending"][:frame]), state["pending"][frame:]
                samples = decode(chunk)
                loud = math.sqrt(sum(s * s for s in samples) / len(samples)) > 1500
                state["speech_ms"] = state["speech_ms"] + 20 if loud else state["speech_ms"]
                state["quiet_ms"] = 0 if loud else state["quiet_ms"] + 20
                if loud and state["answering"] is not None and self.interrupt and state["speech_ms"] >= 100:
                    state["answering"] = None
                    self.interruptions += 1
                    await ws.send(json.dumps({"type": "UserStartedSpeaking"}))
                if state["speech_ms"] >= 300 and state["quiet_ms"] >= 500:
                    state["speech_ms"] = 0
                    state["turns"] += 1
                    number = state["turns"]
                    await ws.send(json.dumps({"type": "ConversationText", "role": "user", "content": f"caller turn {number}"}))
                    if number == 1 and self.tool_call:
                        name, arguments = self.tool_call
                        await ws.send(json.dumps({"type": "FunctionCallRequest", "functions": [
                            {"id": "fc_standin_1", "name": name, "arguments": arguments, "client_side": True}]}))
                    elif state["answering"] is None:
                        asyncio.ensure_future(run_answer(number, f"answer {number}"))
