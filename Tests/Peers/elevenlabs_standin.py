# SPDX-License-Identifier: MIT
"""A local stand-in for an ElevenLabs agent's conversation WebSocket, written from the public
reference: it takes conversation_initiation_client_data first, answers with
conversation_initiation_metadata in its configured audio format, hears the caller's turns in the
user_audio_chunk messages with a crude level detector, and answers each turn with agent_response
and audio events (base64, increasing event ids, four times faster than real time). It pings every
second and records the pongs. Options make it interrupt itself when the caller talks over an
answer (interruption with the answer's last event id), ask for a client tool call instead of its
first answer, or drop its first connection without a close frame. It runs in the test's own
asyncio loop and records what it received."""
import asyncio
import base64
import json
import math

import websockets

from deepgram_standin import answer_signal
from peers import ulaw_decode, ulaw_encode


class ElevenLabsStandIn:
    def __init__(self, audio_format="ulaw_8000", reply_ms=1000, interrupt=False, tool_call=None, drop_first_connection=False):
        self.audio_format = audio_format
        self.rate = int(audio_format.split("_")[1])
        self.mulaw = audio_format.startswith("ulaw")
        self.reply_ms = reply_ms
        self.interrupt = interrupt
        self.tool_call = tool_call
        self.drop_first_connection = drop_first_connection
        self.connections = []  # per connection: {"path", "headers", "messages", "audio": bytearray, "pongs": []}
        self.answers_sent = []
        self.interruptions = 0
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

    def encode(self, samples):
        return bytes(ulaw_encode(s) for s in samples) if self.mulaw else b"".join(s.to_bytes(2, "little", signed=True) for s in samples)

    def decode(self, data):
        return [ulaw_decode(b) for b in data] if self.mulaw else [int.from_bytes(data[i:i + 2], "little", signed=True) for i in range(0, len(data) - 1, 2)]

    async def _serve(self, ws):
        index = len(self.connections)
        record = {"path": ws.request.path, "headers": {k.lower(): v for k, v in ws.request.headers.raw_items()},
                  "messages": [], "audio": bytearray(), "pongs": []}
        self.connections.append(record)
        first = json.loads(await ws.recv())
        record["messages"].append(first)
        if first.get("type") != "conversation_initiation_client_data":
            await ws.close(1008, "initiation first")
            return
        await ws.send(json.dumps({"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": {
            "conversation_id": f"conv_{index}", "agent_output_audio_format": self.audio_format, "user_input_audio_format": self.audio_format}}))
        frame = self.rate // 50 * (1 if self.mulaw else 2)
        state = {"speech_ms": 0, "quiet_ms": 0, "turns": 0, "answering": None, "pending": bytearray(), "event_id": 0}

        async def pinger():
            ping = 0
            while True:
                await asyncio.sleep(1)
                ping += 1
                await ws.send(json.dumps({"type": "ping", "ping_event": {"event_id": 1000 + ping, "ping_ms": 30}}))

        async def answer(number, text):
            encoded = self.encode(answer_signal(self.reply_ms, self.rate, number))
            self.answers_sent.append((index, encoded))
            await ws.send(json.dumps({"type": "agent_response", "agent_response_event": {"agent_response": text}}))
            chunk = self.rate // 10 * (1 if self.mulaw else 2)
            for start in range(0, len(encoded), chunk):
                if state["answering"] is None:
                    return
                state["event_id"] += 1
                await ws.send(json.dumps({"type": "audio", "audio_event": {
                    "audio_base_64": base64.b64encode(encoded[start:start + chunk]).decode(), "event_id": state["event_id"]}}))
                await asyncio.sleep(0.025)
            if self.drop_first_connection and index == 0:
                await asyncio.sleep(0.2)
                ws.transport.abort()

        async def run_answer(number, text):
            state["answering"] = number
            try:
                await answer(number, text)
            finally:
                await asyncio.sleep(self.reply_ms / 1000 * 0.75)
                if state["answering"] == number:
                    state["answering"] = None

        pinging = asyncio.ensure_future(pinger())
        try:
            async for message in ws:
                event = json.loads(message)
                if "user_audio_chunk" in event:
                    data = base64.b64decode(event["user_audio_chunk"])
                    record["audio"] += data
                    state["pending"] += data
                else:
                    record["messages"].append(event)
                    if event.get("type") == "pong":
                        record["pongs"].append(event["event_id"])
                    elif event.get("type") == "client_tool_result":
                        asyncio.ensure_future(run_answer(99, "Goodbye."))
                    continue
                while len(state["pending"]) >= frame:
                    chunk, state["pending"] = bytes(state["pending"][:frame]), state["pending"][frame:]
                    samples = self.decode(chunk)
                    loud = math.sqrt(sum(s * s for s in samples) / len(samples)) > 1500
                    state["speech_ms"] = state["speech_ms"] + 20 if loud else state["speech_ms"]
                    state["quiet_ms"] = 0 if loud else state["quiet_ms"] + 20
                    if loud and state["answering"] is not None and self.interrupt and state["speech_ms"] >= 100:
                        state["answering"] = None
                        self.interruptions += 1
                        await ws.send(json.dumps({"type": "interruption", "interruption_event": {"event_id": state["event_id"]}}))
                    if state["speech_ms"] >= 300 and state["quiet_ms"] >= 500:
                        state["speech_ms"] = 0
                        state["turns"] += 1
                        number = state["turns"]
                        await ws.send(json.dumps({"type": "user_transcript", "user_transcription_event": {"user_transcript": f"caller turn {number}"}}))
                        if number == 1 and self.tool_call:
                            name, parameters = self.tool_call
                            await ws.send(json.dumps({"type": "client_tool_call", "client_tool_call": {
                                "tool_name": name, "tool_call_id": "tool_standin_1", "parameters": parameters}}))
                        elif state["answering"] is None:
                            asyncio.ensure_future(run_answer(number, f"answer {number}"))
        finally:
            pinging.cancel()
