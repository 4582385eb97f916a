# SPDX-License-Identifier: MIT
"""`serve --sip` against baresip (Debian's baresip), a real SIP user agent, driven through its
ctrl_tcp module (netstring JSON commands and events). Its audio comes from a WAV (aufile) and
what it hears is dumped to WAV files (sndfile). Both ways: baresip calls the bridge (echo
agent: what baresip hears is its own words, sample for sample; its key press reaches the
bridge); the bridge calls baresip through the API (an agent server sends key presses, which
baresip reports, then transfers baresip, which calls the target — a route of the bridge — and
reports the transfer's success, after which the bridge hangs up the first call)."""
import asyncio
import json
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import wave

import websockets

from peers import ROOT, read_ulaw_wav, ulaw_decode, ulaw_encode
from test_sip_peer import free_port, post_call, sip_bridge

SAMPLE = ROOT / "samples" / "caller-ulaw-8k.wav"
BARESIP = shutil.which("baresip")


class Baresip:
    """baresip with a private configuration in `folder`; `command` sends a ctrl_tcp command,
    `events` are the events it reported, in order."""

    def __init__(self, folder, source_wav):
        assert BARESIP, "baresip is the SIP user agent of this test (make deps installs it)"
        self.folder = folder
        self.dumps = folder / "dump"
        self.dumps.mkdir()
        self.sip_port, self.control_port = free_port(), free_port()
        while self.control_port in (self.sip_port, self.sip_port + 1):  # baresip's TLS takes SIP's port + 1
            self.control_port = free_port()
        config = folder / "config"
        config.mkdir()
        (config / "config").write_text("\n".join([
            f"sip_listen 127.0.0.1:{self.sip_port}",
            "audio_player aubridge,nowhere",
            f"audio_source aufile,{source_wav}",
            "audio_alert aubridge,nowhere",
            "module_path /usr/lib/baresip/modules",
            "module g711.so", "module aufile.so", "module aubridge.so", "module sndfile.so",
            "module_app account.so", "module_app menu.so", "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.control_port}",
            f"snd_path {self.dumps}",
            "",
        ]))
        (config / "accounts").write_text("<sip:baresip@127.0.0.1>;regint=0;answermode=auto\n")
        (config / "contacts").write_text("")
        self.log = open(folder / "baresip.log", "w")
        self.process = subprocess.Popen([BARESIP, "-f", str(config)], stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                self.control = socket.create_connection(("127.0.0.1", self.control_port), timeout=1)
                break
            except OSError:
                assert time.time() < deadline and self.process.poll() is None, (folder / "baresip.log").read_text()
                time.sleep(0.1)
        self.events = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = b""
        self.control.settimeout(None)
        while True:
            try:
                data = self.control.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b":" in buffer:
                length, rest = buffer.split(b":", 1)
                if len(rest) < int(length) + 1:
                    break
                message = json.loads(rest[:int(length)])
                buffer = rest[int(length) + 1:]
                if message.get("event"):
                    with self._changed:
                        self.events.append(message)
                        self._changed.notify_all()

    def command(self, name: str, params: str = ""):
        body = json.dumps({"command": name, "params": params, "token": name}).encode()
        self.control.sendall(str(len(body)).encode() + b":" + body + b",")

    def wait_for_event(self, kind: str, timeout: float = 20, count: int = 1) -> list:
        with self._changed:
            self._changed.wait_for(lambda: sum(1 for e in self.events if e["type"] == kind) >= count, timeout)
            found = [e for e in self.events if e["type"] == kind]
        assert len(found) >= count, f"no {kind} from baresip: {[e['type'] for e in self.events]}"
        return found

    def heard(self) -> list:
        """What baresip decoded from the call's RTP (its first call's dump)."""
        dumps = sorted(self.dumps.glob("*-dec.wav"))
        assert dumps, "baresip dumped what it heard"
        with wave.open(str(dumps[0])) as recording:
            return list(struct.unpack(f"<{recording.getnframes()}h", recording.readframes(recording.getnframes())))

    def stop(self):
        self.command("quit")
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.control.close()
        self.log.close()


def caller_wav(path, seconds_of_silence_after: float):
    """The sample as PCM16 (baresip's aufile reads PCM16), then silence: baresip ends the call
    when its source file ends."""
    samples = [ulaw_decode(code) for code in read_ulaw_wav(SAMPLE)] + [0] * int(seconds_of_silence_after * 8000)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def differences(heard: list, said: list, count: int) -> list:
    """Where two code streams differ, as (first index, length) stretches."""
    stretches = []
    for i in (i for i in range(count) if heard[i] != said[i]):
        if stretches and i - sum(stretches[-1]) <= 20:
            stretches[-1] = (stretches[-1][0], i - stretches[-1][0] + 1)
        else:
            stretches.append((i, 1))
    return stretches[:20]


def test_baresip_calls_the_bridge_and_hears_its_own_words_back(tmp_path):
    sip_port = free_port()
    with sip_bridge(sip_port, "--agent", "echo", "--no-barge-in") as server:
        server.wait_for(r"SIP listening on")
        phone = Baresip(tmp_path, caller_wav(tmp_path / "caller.wav", 14))
        try:
            phone.command("dial", f"sip:service@127.0.0.1:{sip_port}")
            phone.wait_for_event("CALL_ESTABLISHED")
            time.sleep(2)
            phone.command("sndcode", "5")
            server.wait_for(r"digit=5 .*dtmf")
            phone.wait_for_event("CALL_CLOSED", timeout=30)  # at the end of its file
            server.wait_for(r"reason=hung up by the caller \(200 .*call ended")
            counts = dict(re.findall(r"(\w+)=(\S+)", server.wait_for(r".*SIP call media.*").group(0)))
            counts.update(re.findall(r"(underrun_frames)=(\d+)", server.wait_for(r".*call ended.*").group(0)))
        finally:
            phone.stop()
    # Compared as μ-law codes: baresip's decoder puts code 0xFF at +2 where G.711's table has 0,
    # so what it heard is encoded back (each value lies in its code's interval) before comparing.
    heard = [ulaw_encode(sample) for sample in phone.heard()]
    caller = list(read_ulaw_wav(SAMPLE))
    start = next(i for i, code in enumerate(heard) if code not in (0xFF, 0x7F))
    probe = heard[start + 4000:start + 4160]
    offsets = [offset for offset in range(len(caller) - 160) if caller[offset:offset + 160] == probe]
    assert offsets, "a stretch of what baresip heard is, code for code, in what it said"
    offset = offsets[0] - 4000
    compared = min(len(heard) - start, len(caller) - offset)
    equal = sum(1 for i in range(compared) if heard[start + i] == caller[offset + i])
    # Bit-exact but for what the bridge counted: a frame its jitter buffer concealed (a packet
    # late on a loaded machine) or the agent's playout ran short of is not the caller's audio.
    disturbed = sum(int(counts[key]) for key in ("lost", "late", "concealed", "skipped", "repeated", "underrun_frames"))
    different = compared - equal
    assert compared >= 7 * 8000 and different <= 64 + 160 * disturbed, \
        f"{different} of {compared} codes differ at {differences(heard[start:], caller[offset:], compared)}; the bridge counted {counts}"


def test_the_bridge_calls_baresip_sends_keys_and_transfers_it(tmp_path):
    token = "t0ken-for-the-test-" + str(free_port())
    got = {"control": []}

    async def agent(ws):
        got["start"] = json.loads(await ws.recv())
        if got["start"].get("callId") != "sip-1":
            return  # the transferred call (route 2000 has its own agent); not this server's
        await ws.send(json.dumps({"type": "send_dtmf", "id": 1, "digits": "12"}))
        await asyncio.sleep(1.5)
        await ws.send(json.dumps({"type": "transfer", "id": 2, "target": f"sip:2000@127.0.0.1:{sip_port}"}))
        try:
            async for message in ws:
                if isinstance(message, str):
                    got["control"].append(json.loads(message))
        except websockets.ConnectionClosed:
            pass

    async def run():
        async with websockets.serve(agent, "127.0.0.1", 0) as ws_server:
            ws_port = ws_server.sockets[0].getsockname()[1]
            loop = asyncio.get_running_loop()
            with sip_bridge(sip_port, "--agent", f"ws://127.0.0.1:{ws_port}/agent", "--sip-route", "2000=tone:880:2000", "--api", "127.0.0.1:0",
                            env={"AUDIOBRIDGE_API_TOKEN": token}) as server:
                api_port = int((await loop.run_in_executor(None, server.wait_for, r"call API at http://127.0.0.1:(\d+)/calls")).group(1))
                phone = Baresip(tmp_path, caller_wav(tmp_path / "caller.wav", 20))
                try:
                    status, answer = await loop.run_in_executor(None, post_call, api_port, f"sip:baresip@127.0.0.1:{phone.sip_port}", token)
                    assert (status, answer) == (200, {"call": "sip-1", "status": "answered"}), answer
                    digits = await loop.run_in_executor(None, lambda: phone.wait_for_event("CALL_DTMF_START", count=2))
                    await loop.run_in_executor(None, server.wait_for, r"reason=hung up by us \(BYE 200 .*call ended")
                    await loop.run_in_executor(None, server.wait_for, r"called=2000 .*call started")
                    return digits, list(server.lines)
                finally:
                    phone.stop()

    sip_port = free_port()
    digits, log = asyncio.run(run())
    assert [event["param"] for event in digits] == ["1", "2"], digits
    results = [m for m in got["control"] if m["type"] == "result"]
    assert [(r["id"], r["ok"]) for r in results] == [(1, True), (2, True)], results
    assert f"menu: transferring call" in (tmp_path / "baresip.log").read_text(), "baresip carried the REFER out itself"
    assert f"to '<sip:2000@127.0.0.1:{sip_port}>'" in (tmp_path / "baresip.log").read_text()
    assert any("final=true" in line and "status=200" in line and "SIP transfer" in line for line in log), log
