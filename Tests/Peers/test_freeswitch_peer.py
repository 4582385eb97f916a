# SPDX-License-Identifier: MIT
"""`serve --freeswitch` against clients written from the FreeSWITCH modules' wire formats
(protocols.md §5) with Python `websockets`, which offers permessage-deflate as mod_audio_stream
does: metadata first, then L16 little-endian in messages of varying and odd sizes, every 20 ms.
One call per module, at once on one server: jambonz's fork (16 kHz, streamed BINARY playback,
marks), drachtio's mod_audio_fork (8 kHz stereo, playAudio), mod_audio_stream (8 kHz,
streamAudio, compressed). Each caller says something (echoed back the module's way), presses a
digit, and talks over the second echo (the module's interrupt, killAudio, must follow)."""
import array
import asyncio
import base64
import json
import math
import re
import time

import websockets

from peers import BIN, listening_port, running, talk

SECOND = 5.2  # seconds: the second utterance starts here, after the first echo has ended
SIZES = [1, 639, 321, 960, 640, 319, 200]  # bytes per message, cycled: odd sizes carry over


def pcm(samples):
    return array.array("h", samples).tobytes()


def envelope(samples, rate):
    step = rate // 50
    return [math.sqrt(sum(s * s for s in samples[i:i + step]) / step) for i in range(0, len(samples) - step + 1, step)]


def correlation(a, b):
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ma, mb = sum(a) / n, sum(b) / n
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    den = math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))
    return num / den if den else 0.0


async def fork_call(port, flavor):
    rate = 16000 if flavor == "jambonz" else 8000
    stereo = flavor == "drachtio"
    subprotocols = {"jambonz": ["audio.jambonz.org"], "drachtio": ["audio.drachtio.org"], "stream": None}[flavor]
    url = f"ws://127.0.0.1:{port}/fork" + ("?mix=stereo" if stereo else "")
    per_frame = rate // 50
    first = talk(1.2, seed=0.5, rate=rate)
    second = talk(1.2, seed=1.9, rate=rate)
    third = talk(1.0, seed=2.7, rate=rate)
    received = []  # (seconds, kind, payload)
    result = {}
    async with websockets.connect(url, subprotocols=subprotocols) as ws:
        result["subprotocol"] = ws.subprotocol
        result["extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        start = time.monotonic()

        async def read():
            try:
                async for message in ws:
                    now = time.monotonic() - start
                    if isinstance(message, bytes):
                        received.append((now, "audio", message))
                        continue
                    received.append((now, "text", message))
                    event = json.loads(message)
                    if event.get("type") == "mark":  # as jambonz does once the audio before it played
                        await ws.send(json.dumps({"type": "mark", "data": {"name": event["data"]["name"], "event": "playout"}}))
            except websockets.ConnectionClosed:
                pass

        reader = asyncio.create_task(read())
        metadata = {"callSid": f"fs-{flavor}"}
        if flavor == "jambonz":
            metadata.update(sampleRate=16000, mixType="mono")
        await ws.send(json.dumps(metadata))
        plan = {}
        for n in range(10, 70):
            plan[n] = first[(n - 10) * per_frame:(n - 9) * per_frame]
        for n in range(260, 320):
            plan[n] = second[(n - 260) * per_frame:(n - 259) * per_frame]
        pending = b""
        sent = []
        barge = None
        size_index = 0
        for n in range(500):
            samples = plan.get(n, [0] * per_frame)
            audio_after_second = [t for t, kind, p in received if t > SECOND and (kind == "audio" or '"playAudio"' in p or '"streamAudio"' in p)]
            if barge is None and n > 320 and len(audio_after_second) >= (12 if flavor == "jambonz" else 2):
                barge = n
            if barge is not None and n - barge < 50:
                k = n - barge
                samples = third[k * per_frame:(k + 1) * per_frame]
            sent += samples
            if stereo:
                other = [int(3000 * math.sin(2 * math.pi * 1777 * (n * per_frame + i) / rate)) for i in range(per_frame)]
                frame = pcm([v for pair in zip(samples, other) for v in pair])
            else:
                frame = pcm(samples)
            pending += frame
            while len(pending) >= SIZES[size_index % len(SIZES)]:
                size = SIZES[size_index % len(SIZES)]
                await ws.send(pending[:size])
                pending = pending[size:]
                size_index += 1
            if n == 150:
                await ws.send(json.dumps({"type": "dtmf", "digit": "7"}))
            await asyncio.sleep(max(0, start + (n + 1) * 0.02 - time.monotonic()))
        await ws.close()
        await reader
    result.update(received=received, sent=sent, rate=rate, barge=barge)
    return result


def played_audio(result, flavor):
    """The agent audio this caller was given, as (seconds, samples) pieces."""
    pieces = []
    for t, kind, payload in result["received"]:
        if kind == "audio":
            pieces.append((t, array.array("h", payload).tolist()))
        else:
            event = json.loads(payload)
            if event.get("type") in ("playAudio", "streamAudio"):
                data = event["data"]
                assert data.get("audioContentType", data.get("audioDataType")) == "raw" and data["sampleRate"] == result["rate"]
                content = data.get("audioContent") or data.get("audioData")
                pieces.append((t, array.array("h", base64.b64decode(content)).tolist()))
    return pieces


def test_freeswitch_modules():
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--freeswitch", "127.0.0.1:0", "--agent", "echo"]) as server:
        port = listening_port(server, "FreeSWITCH")

        async def all_three():
            return await asyncio.gather(*(fork_call(port, flavor) for flavor in ("jambonz", "drachtio", "stream")))

        results = dict(zip(("jambonz", "drachtio", "stream"), asyncio.run(all_three())))
        server.wait_for(r"digit=7 .*dtmf")
        time.sleep(0.2)
        log = "\n".join(server.lines)

    assert results["jambonz"]["subprotocol"] == "audio.jambonz.org"
    assert results["drachtio"]["subprotocol"] == "audio.drachtio.org"
    assert results["stream"]["subprotocol"] is None
    assert "permessage-deflate" in results["stream"]["extensions"]
    assert len(re.findall(r"digit=7 .*dtmf", log)) == 3

    for flavor, result in results.items():
        texts = [json.loads(p) for t, kind, p in result["received"] if kind == "text"]
        types = [m["type"] for m in texts]
        pieces = played_audio(result, flavor)
        kill_at = next(t for t, kind, p in result["received"] if kind == "text" and json.loads(p)["type"] == "killAudio")
        first_echo = [s for t, samples in pieces if t < SECOND for s in samples]
        rate = result["rate"]
        assert len(first_echo) >= 55 * rate // 50, f"{flavor}: {len(first_echo) / rate:.2f} s of echo"
        if flavor == "jambonz":
            # Streamed L16 at 16 kHz (resampled twice): the echo follows the caller's loudness.
            sent_env, echo_env = envelope(result["sent"][10 * 320:70 * 320], rate), envelope(first_echo, rate)
            best = max(correlation(sent_env, echo_env[lag:]) for lag in range(0, 20))
            assert best > 0.9, f"jambonz echo envelope correlation {best:.3f}"
            marks = [m["data"]["name"] for m in texts if m["type"] == "mark"]
            assert marks[:1] == ["item-1"] and "item-2" not in marks, marks
            assert types.index("mark") < types.index("killAudio") < types.index("clearMarks")
            # The heard position the server logged is the second echo this caller received.
            heard = int(re.search(r"heard_ms=(\d+) item=2 module=audio.jambonz.org .*barge-in", log).group(1))
            second_echo = sum(len(samples) for t, samples in pieces if SECOND < t < kill_at)
            assert abs(heard - second_echo * 1000 // rate) <= 40, f"heard {heard} ms, received {second_echo * 1000 // rate} ms"
        else:
            # 8 kHz, no resampling: the echo is the caller's own samples (the first channel of
            # drachtio's stereo), one contiguous stretch, none lost across odd message sizes.
            sent = result["sent"]
            loud = next(i for i in range(0, len(first_echo), 160) if any(first_echo[i:i + 160]))
            probe = first_echo[loud:loud + 160]
            offset = next(i for i in range(len(sent) - 160) if sent[i:i + 160] == probe) - loud
            assert sent[offset:offset + len(first_echo)] == first_echo, f"{flavor}: the echo is the caller's audio"
            expected = "playAudio" if flavor == "drachtio" else "streamAudio"
            assert expected in types and "mark" not in types
        assert types.count("killAudio") == 1, f"{flavor}: {types}"
        assert kill_at > SECOND


async def tone_call_with_a_short_sound(port, flavor):
    """The agent plays a 3 s tone; the caller (mono) is silent but for a 120 ms sound at 1 s.
    Returns the pieces of agent audio received."""
    subprotocols = {"jambonz": ["audio.jambonz.org"], "drachtio": ["audio.drachtio.org"], "stream": None}[flavor]
    rate = 16000 if flavor == "jambonz" else 8000
    per_frame = rate // 50
    received = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/fork", subprotocols=subprotocols) as ws:
        start = time.monotonic()

        async def read():
            try:
                async for message in ws:
                    received.append((time.monotonic() - start, "text" if isinstance(message, str) else "audio", message))
            except websockets.ConnectionClosed:
                pass

        reader = asyncio.create_task(read())
        metadata = {"callSid": f"fs-pause-{flavor}"}
        if flavor == "jambonz":
            metadata.update(sampleRate=rate, mixType="mono")
        await ws.send(json.dumps(metadata))
        sound = talk(0.12, seed=0.5, rate=rate)
        for n in range(230):
            k = n - 50
            await ws.send(pcm(sound[k * per_frame:(k + 1) * per_frame] if 0 <= k < len(sound) // per_frame else [0] * per_frame))
            await asyncio.sleep(max(0, start + (n + 1) * 0.02 - time.monotonic()))
        await ws.close()
        await reader
    return {"received": received, "rate": rate}


def test_modules_pause_without_killing_the_audio():
    """A short sound pauses the agent. jambonz (streamed audio) gets no frames while paused.
    mod_audio_fork and mod_audio_stream play 200 ms files: at a pause the piece that ends at the
    paused sample goes at once (shorter than 200 ms), nothing more until the resume. No
    killAudio; the whole 3 s tone arrives."""
    with running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--freeswitch", "127.0.0.1:0",
                  "--agent", "tone:440:3000"]) as server:
        port = listening_port(server, "FreeSWITCH")
        results = {flavor: asyncio.run(tone_call_with_a_short_sound(port, flavor)) for flavor in ("jambonz", "drachtio", "stream")}
    for flavor, result in results.items():
        types = [json.loads(p)["type"] for t, kind, p in result["received"] if kind == "text"]
        assert "killAudio" not in types, f"{flavor}: {types}"
        pieces = played_audio(result, flavor)
        frame = result["rate"] // 50
        # The tone is item 1; the tone agent answers the sound with a second tone after it.
        lengths = [len(samples) for _, samples in pieces]
        if flavor == "jambonz":  # item 1 ends at its mark
            mark = next(t for t, kind, p in result["received"] if kind == "text" and json.loads(p)["type"] == "mark")
            item1 = [len(samples) for t, samples in pieces if t < mark]
        else:  # the files of item 1 hold at least its 150 frames
            item1 = []
            for length in lengths:
                if sum(item1) >= 150 * frame:
                    break
                item1.append(length)
        total = sum(item1)
        # 151 whole frames: the tone's 150, and one more because the frame that paused carries
        # only the first 8 ms of its 20 (the resumed frame starts from exactly there).
        assert total == 151 * frame, f"{flavor}: the 3 s tone arrived as {lengths}"
        times = [t for t, _ in pieces][:len(item1)]
        if flavor == "jambonz":
            gaps = [b - a for a, b in zip(times, times[1:])]
            assert max(gaps) >= 0.2, f"{flavor}: frames kept coming through the pause: longest gap {max(gaps):.3f} s"
            continue
        short = [n for n in item1[:-1] if n < 10 * frame]
        assert len(short) == 1 and short[0] % frame == 0, f"{flavor}: one piece ends at the pause: {item1}"
        # The short piece went at once, and the next only after the pause (a whole 200 ms piece).
        at = item1.index(short[0])
        assert times[at + 1] - times[at] >= 0.2 + 0.1, f"{flavor}: pieces at {times}"
