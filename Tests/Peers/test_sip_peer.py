# SPDX-License-Identifier: MIT
"""`serve --sip` against SIPp (Debian's sip-tester), an independent SIP implementation, driving the
scenarios in Tests/Peers/sip/. SIPp does the signalling; the RTP of the call is this test's own
socket, whose port the SDP offer names: it streams the sample WAV as PCMU in 20 ms packets and
keeps what the bridge sends back. With the echo agent, what comes back must be the caller's audio,
sample for sample. Then: the bridge's BYE when the agent ends the call, OPTIONS, 486 at
--max-calls, 400 for a broken SDP and 488 for an offer without audio, each next to a live call
that must go on."""
import asyncio
import json
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import wave

import pytest
import websockets

from peers import BIN, ROOT, alaw_decode, alaw_encode, loud_frames, read_ulaw_wav, running, talk, ulaw_decode, ulaw_encode
from test_twilio_peer import self_signed_certificate
from test_rtp_peer import assert_echo_is_the_caller, free_port_pair, telephone_event_packets

SCENARIOS = ROOT / "Tests" / "Peers" / "sip"
SAMPLE = ROOT / "samples" / "caller-ulaw-8k.wav"
SIPP = shutil.which("sipp")

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sip_bridge(sip_port: int, *extra, env=None):
    rtp = min(free_port_pair(), 64000)  # the pool skips ports another process holds
    return running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--sip", f"127.0.0.1:{sip_port}",
                    "--rtp-ports", f"{rtp}-{rtp + 999}", *extra], env=env)


def sipp(scenario: str, sip_port: int, rtp_port: int, seconds: float = 0, timeout: float = 40, background=False, transport="udp", extra=(),
         called="service"):
    """SIPp runs one call of `scenario` against the bridge over UDP or TCP; -d is the call's pause (ms)."""
    assert SIPP, "SIPp is the SIP peer (make deps installs sip-tester)"
    args = [SIPP, "-t", {"udp": "u1", "tcp": "t1"}[transport], "-s", called, "-sf", str(SCENARIOS / scenario), "-m", "1", "-d", str(int(seconds * 1000)), "-i", "127.0.0.1",
            "-p", str(free_port()), "-key", "rtpport", str(rtp_port), "-nostdin", "-timeout", str(int(timeout)),
            "-timeout_error", *extra, f"127.0.0.1:{sip_port}"]
    if background:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout + 10)


class RTPCaller:
    """The caller's media: sends μ-law frames every 20 ms to where the bridge's RTP comes from
    (symmetric RTP: the bridge sends from its call port as soon as it has answered) and keeps
    every payload the bridge sends."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.port = free_port_pair()
        self.socket.bind(("127.0.0.1", self.port))
        self.socket.settimeout(0.2)
        self.received = []
        self.payload_types = []
        self.arrivals = []
        self.key_presses = []
        self.bridge = None
        self.protect = self.unprotect = None  # SRTP, once keyed
        self.undecryptable = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self):
        while not self._stop.is_set():
            try:
                packet, source = self.socket.recvfrom(2048)
            except socket.timeout:
                continue
            self.bridge = self.bridge or source
            if self.protect and not self.unprotect:
                continue  # SRTP, before the answer's key is known
            if self.unprotect:
                try:
                    packet = self.unprotect(packet)
                except Exception:
                    self.undecryptable += 1
                    continue
            if len(packet) >= 16 and packet[1] & 0x7F == 101 and packet[13] & 0x80:
                self.key_presses.append((struct.unpack("!I", packet[4:8])[0], packet[12]))  # (timestamp, event) of an end packet
            if len(packet) >= 12 and packet[1] & 0x7F in (0, 8):
                self.received.append(packet[12:])
                self.payload_types.append(packet[1] & 0x7F)
                self.arrivals.append(time.monotonic())

    def wait_for_bridge(self, timeout=10):
        deadline = time.time() + timeout
        while self.bridge is None and time.time() < deadline:
            time.sleep(0.02)
        assert self.bridge, "the bridge sent RTP to the port our SDP offered"

    def send(self, payload: bytes, seconds_of_silence_after: float, key_press_at: dict = None, payload_type_at: dict = None):
        """Payload and silence in 20 ms packets; `key_press_at` {frame: event} sends an RFC 4733
        key press in place of the audio from that frame on; `payload_type_at` {frame: type}
        changes the payload type from that frame on (the payload is sent as given)."""
        frames = [payload[i:i + 160] for i in range(0, len(payload) - 159, 160)]
        frames += [b"\xff" * 160] * int(seconds_of_silence_after * 50)
        start = time.monotonic()
        sequence = 0
        payload_type = 0
        for n, frame in enumerate(frames):
            payload_type = (payload_type_at or {}).get(n, payload_type)
            if n in (key_press_at or {}):
                for packet in telephone_event_packets(key_press_at[n], sequence, n * 160, 0x5151):
                    self.socket.sendto(packet, self.bridge)
                    sequence += 1
            header = struct.pack("!BBHII", 0x80, payload_type, sequence & 0xFFFF, (n * 160) & 0xFFFFFFFF, 0x5151)
            self.socket.sendto(self.protect(header + frame) if self.protect else header + frame, self.bridge)
            sequence += 1
            time.sleep(max(0, start + (n + 1) * 0.02 - time.monotonic()))

    def close(self):
        self._stop.set()
        self._thread.join()
        self.socket.close()

    def heard(self) -> list:
        return [ulaw_decode(code) for payload in self.received for code in payload]


def call_with_media(scenario: str, sip_port: int, caller: RTPCaller, payload: bytes, silence: float = 0, during=None,
                    key_press_at: dict = None, payload_type_at: dict = None, timeout: float = 30, **sipp_arguments):
    """SIPp runs `scenario` while `caller` streams `payload` (then `silence` seconds) to the bridge,
    and `during()`, if given, runs meanwhile; returns when SIPp has ended (successfully: asserted),
    with the caller closed."""
    call = sipp(scenario, sip_port, caller.port, background=True, **sipp_arguments)
    try:
        caller.wait_for_bridge()
        sending = threading.Thread(target=caller.send, args=(payload, silence, key_press_at, payload_type_at), daemon=True)
        sending.start()
        if during:
            during()
        sending.join()
        output, _ = call.communicate(timeout=timeout)
    finally:
        call.kill()
        caller.close()
    assert call.returncode == 0, output


@pytest.mark.parametrize("scenario, logged", [
    ("call.xml", r"codec=ulaw.*srtp=no"),
    # An INVITE without SDP: the bridge's 200 carries its offer (SIPp checks it), the ACK answers
    # with PCMU, and only then does the call start.
    ("late_offer.xml", r"INVITE without SDP: our offer goes in the 200"),
], ids=["offer-in-invite", "late-offer"])
def test_a_sipp_call_hears_its_own_words_back_sample_for_sample(scenario, logged):
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "echo", "--no-barge-in") as server:
        server.wait_for(r"SIP listening on")
        call_with_media(scenario, sip_port, caller, read_ulaw_wav(SAMPLE), silence=12, seconds=21)
        server.wait_for(r"reason=hung up by the caller \(200 .*call ended")
        server.wait_for(logged)
        # What the bridge's jitter buffer did to the caller's packets: a frame it concealed, or
        # a frame it skipped or repeated to change its delay (the echo's alignment then moves by
        # a whole frame, with a 40-sample crossfade), is counted there.
        media = dict(re.findall(r"(\w+)=(\S+)", server.wait_for(r".*SIP call media.*").group(0)))
    assert_echo_is_the_caller(caller.heard(), concealed_frames=sum(int(media[key]) for key in ("concealed", "late", "lost", "skipped", "repeated")))


def test_a_late_offer_the_ack_does_not_answer_is_hung_up():
    sip_port = free_port()
    with sip_bridge(sip_port, "--agent", "echo") as server:
        server.wait_for(r"SIP listening on")
        result = sipp("late_offer_unanswered.xml", sip_port, free_port_pair(), timeout=20)
        assert result.returncode == 0, result.stdout + result.stderr
        server.wait_for(r"the ACK carries no answer to our offer.*SIP late offer: the ACK's answer cannot be used, hanging up")
        server.wait_for(r"SIP call ended before it started")
    server.wait_for(r"sip: 0 call\(s\), .* 1 protocol errors")  # it never started


class TLSSignalling:
    """A SIP caller's signalling over TLS, written by hand (Debian's SIPp has no TLS): requests
    out, whole messages (headers and Content-Length body) in. The bridge's certificate is
    checked against `cafile` for 127.0.0.1."""

    def __init__(self, port: int, cafile):
        context = ssl.create_default_context(cafile=str(cafile))
        self.socket = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="127.0.0.1")
        self.local_port = self.socket.getsockname()[1]
        self.buffer = b""

    def send(self, request: str):
        self.socket.sendall(request.replace("\n", "\r\n").encode())

    def receive(self) -> tuple:
        """The next message: its first line, headers (lower-case names) and body."""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.socket.recv(4096)
            assert chunk, "the bridge closed the TLS connection"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        length = int(headers.get("content-length", headers.get("l", "0")))
        while len(self.buffer) < length:
            self.buffer += self.socket.recv(4096)
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return lines[0], headers, body.decode()

    def close(self):
        self.socket.close()


def test_a_call_signalled_over_tls(tmp_path):
    """--sip-tls-cert/--sip-tls-key: the bridge takes SIP over TLS on the --sip port + 1 with the
    certificate given (the caller verifies it); INVITE, 200 with our answer, ACK, the agent's
    tone over RTP, BYE — and the private copy sofia-sip reads the certificate from is gone
    when the bridge stops."""
    certificate, key = self_signed_certificate(tmp_path)
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "tone:440:1000", "--sip-tls-cert", certificate, "--sip-tls-key", key,
                    env={"TMPDIR": str(tmp_path)}) as server:
        server.wait_for(rf"SIP listening on .*TLS on {sip_port + 1}")
        assert len(list(tmp_path.glob("audiobridge-sip-tls-*/agent.pem"))) == 1
        tls = TLSSignalling(sip_port + 1, certificate)
        dialog = f"From: <sips:caller@127.0.0.1>;tag=tls1\nCall-ID: tls-call-1@127.0.0.1\nMax-Forwards: 70\n"
        via = f"Via: SIP/2.0/TLS 127.0.0.1:{tls.local_port};branch=z9hG4bK-tls-"
        sdp = (f"v=0\no=caller 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio {caller.port} RTP/AVP 0 101\n"
               "a=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=ptime:20\na=sendrecv\n").replace("\n", "\r\n")
        target = f"sips:service@127.0.0.1:{sip_port + 1}"
        tls.send(f"INVITE {target} SIP/2.0\n{via}1\n{dialog}To: <{target}>\nCSeq: 1 INVITE\n"
                 f"Contact: <sips:caller@127.0.0.1:{tls.local_port};transport=tls>\nContent-Type: application/sdp\n"
                 f"Content-Length: {len(sdp)}\n\n" + sdp.replace("\r\n", "\n"))
        status, headers, body = tls.receive()
        while status.startswith("SIP/2.0 1"):
            status, headers, body = tls.receive()
        assert status.startswith("SIP/2.0 200"), status
        assert "m=audio" in body and "RTP/AVP 0" in body, body
        to = headers.get("to") or headers["t"]
        tls.send(f"ACK {target} SIP/2.0\n{via}2\n{dialog}To: {to}\nCSeq: 1 ACK\nContent-Length: 0\n\n")
        caller.wait_for_bridge()
        caller.send(b"\xff" * 160 * 75, 0)
        tls.send(f"BYE {target} SIP/2.0\n{via}3\n{dialog}To: {to}\nCSeq: 2 BYE\nContent-Length: 0\n\n")
        status, _, _ = tls.receive()
        assert status.startswith("SIP/2.0 200"), status
        tls.close()
        caller.close()
        server.wait_for(r"reason=hung up by the caller \(200 .*call ended")
    assert loud_frames(caller.heard(), threshold=3000) >= 45, "the agent's 1 s tone reached the caller"
    assert list(tmp_path.glob("audiobridge-sip-tls-*")) == []


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_the_bridge_hangs_up_with_bye_when_the_agent_ends_the_call(transport):
    """The number called chooses the agent (--sip-route): the default agent (echo) never hangs
    up; 2000's plays 600 ms and hangs up."""
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "echo", "--sip-route", "2000=tone:440:600?then=hangup") as server:
        server.wait_for(r"SIP listening on")
        # The caller keeps sending while the tone plays, as a phone does.
        call_with_media("bridge_hangs_up.xml", sip_port, caller, b"\xff" * 160 * 100, transport=transport, called="2000")
        server.wait_for(r"reason=hung up by us \(BYE 200 .*call ended")
    heard = caller.heard()
    loud = sum(1 for i in range(0, len(heard) - 159, 160) if max(abs(s) for s in heard[i:i + 160]) > 1000)
    assert 28 <= loud <= 31, f"{loud} frames of the 600 ms tone heard before the BYE"


def test_options_busy_broken_sdp_and_no_audio_each_get_their_answer_while_a_call_goes_on():
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "echo", "--max-calls", "1") as server:
        server.wait_for(r"SIP listening on")

        def others():
            for scenario in ("options.xml", "busy.xml", "broken_sdp.xml", "slash_address.xml", "video_only.xml"):
                result = sipp(scenario, sip_port, free_port_pair(), timeout=10)
                assert result.returncode == 0, f"{scenario}:\n{result.stdout[-2000:]}"
            # A datagram that is not SIP: dropped by the SIP stack, nothing else happens.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as garbage:
                garbage.sendto(b"\x00\x01 not a SIP message\r\n\r\n", ("127.0.0.1", sip_port))

        call_with_media("call.xml", sip_port, caller, b"\xff" * 160 * 250, during=others, seconds=6)
        server.wait_for(r"SIP call refused: at --max-calls \(486\)")
        server.wait_for(r"INVITE refused \(400\): SDP does not start with v=0")
        server.wait_for(r"INVITE refused \(400\): .*c=IN IP4 /")
        server.wait_for(r"INVITE refused \(488\): video is not audio")
        ended = server.wait_for(r"frames_in=(\d+) frames_out=(\d+) reason=hung up by the caller.*call ended")
        assert int(ended.group(1)) >= 250, "the live call took every frame sent while the others were refused"


def test_hold_stops_our_audio_and_the_agent_waits_until_resumed():
    """A 3 s answer; 1 s in, the caller holds (re-INVITE a=sendonly) for 2 s: no RTP from the
    bridge while on hold, and after the resume the rest of the answer, none of it lost."""
    sip_port = free_port()
    caller = RTPCaller()
    # Rung for 300 ms first: the answer after ringing carries the call as well.
    with sip_bridge(sip_port, "--agent", "tone:440:3000", "--sip-ring-ms", "300") as server:
        server.wait_for(r"SIP listening on")
        call_with_media("hold_resume.xml", sip_port, caller, b"\xff" * 160 * 300)
        server.wait_for(r"direction=recvonly on_hold=true.*SIP re-INVITE")
        server.wait_for(r"direction=sendrecv on_hold=false.*SIP re-INVITE")
    gaps = [later - earlier for earlier, later in zip(caller.arrivals, caller.arrivals[1:])]
    assert 1.8 <= max(gaps) <= 2.4, f"the longest pause in the bridge's RTP: {max(gaps):.2f} s (the 2 s hold)"
    heard = caller.heard()
    loud = sum(1 for i in range(0, len(heard) - 159, 160) if max(abs(s) for s in heard[i:i + 160]) > 1000)
    assert 148 <= loud <= 151, f"{loud} frames of the 3 s answer heard across the hold"


def test_a_reinvite_moves_the_call_from_pcmu_to_pcma(tmp_path):
    """A PCMU call; 1 s in, a re-INVITE offers PCMA only: the answer is PCMA, the bridge's RTP
    turns to payload type 8 (the tone agent's answer goes on in A-law) and the caller's A-law
    audio reaches the call as well as its μ-law did (the bridge's recording of the caller)."""
    sip_port = free_port()
    caller = RTPCaller()
    voice = talk(4)
    # 2 s of μ-law, then 2 s of A-law (the caller switches a second after the re-INVITE).
    payload = bytes(ulaw_encode(s) for s in voice[:16000]) + bytes(alaw_encode(s) for s in voice[16000:])
    with sip_bridge(sip_port, "--agent", "tone:440:6000", "--no-barge-in", "--record", tmp_path) as server:
        server.wait_for(r"SIP listening on")
        call_with_media("codec_change.xml", sip_port, caller, payload, silence=0.5, payload_type_at={100: 8})
        server.wait_for(r"codec=alaw direction=sendrecv.*SIP re-INVITE")
        server.wait_for(r"call ended")
    switched = caller.payload_types.index(8)
    assert set(caller.payload_types[:switched]) == {0} and set(caller.payload_types[switched:]) == {8}, caller.payload_types
    assert 40 <= switched <= 110 and len(caller.payload_types) - switched >= 150, (switched, len(caller.payload_types))
    heard_alaw = [alaw_decode(code) for payload in caller.received[switched:] for code in payload]
    assert loud_frames(heard_alaw, threshold=3000) >= 150, "the tone goes on in A-law"
    with wave.open(str(tmp_path / "sip-1.wav")) as recording:
        frames = recording.readframes(recording.getnframes())
    took = struct.unpack(f"<{len(frames) // 2}h", frames)[0::2]
    assert loud_frames(took) >= 195, f"{loud_frames(took)} of the caller's 200 frames reached the call"


def test_the_agent_transfers_the_call_by_refer_and_key_presses_go_both_ways():
    """An agent server (the raw-PCM protocol) learns the call's metadata (with the one INVITE
    header asked for by --sip-header) and that a SIP call can transfer and send keys,
    sends 1 and 2 (they reach the caller as RFC 4733 events), waits for the caller's 5 (sent as
    RFC 4733 here), then transfers to a number: SIPp gets a REFER to that number at its own host,
    accepts it and reports the target's 200 OK; the agent is told the transfer succeeded and the
    bridge hangs up with BYE."""
    got = {"control": []}

    async def agent(ws):
        got["start"] = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "send_dtmf", "id": 1, "digits": "12"}))
        try:
            async for message in ws:
                if isinstance(message, str):
                    got["control"].append(json.loads(message))
                    if got["control"][-1] == {"type": "dtmf", "digit": "5"}:
                        await ws.send(json.dumps({"type": "transfer", "id": 2, "target": "+14155550100"}))
        except websockets.ConnectionClosed:
            pass

    async def call():
        async with websockets.serve(agent, "127.0.0.1", 0) as ws_server:
            ws_port = ws_server.sockets[0].getsockname()[1]
            sip_port = free_port()
            caller = RTPCaller()
            loop = asyncio.get_running_loop()
            with sip_bridge(sip_port, "--agent", f"ws://127.0.0.1:{ws_port}/agent", "--sip-header", "x-customer-id") as server:
                await loop.run_in_executor(None, server.wait_for, r"SIP listening on")
                sipp_call = sipp("transfer.xml", sip_port, caller.port, background=True)
                await loop.run_in_executor(None, caller.wait_for_bridge)
                sending = loop.run_in_executor(None, lambda: caller.send(b"\xff" * 160 * 150, 0, key_press_at={50: 5}))
                output, _ = await loop.run_in_executor(None, lambda: sipp_call.communicate(timeout=30))
                await sending
                caller.close()
                await loop.run_in_executor(None, server.wait_for, r"reason=hung up by us \(BYE 200 .*call ended")
                return sipp_call.returncode, output, list(server.lines), caller.key_presses

    returncode, output, log, key_presses = asyncio.run(call())
    assert returncode == 0, output
    assert got["start"]["abilities"] == {"transfer": True, "sendDtmf": True}
    metadata = got["start"]["metadata"]
    assert (metadata["direction"], metadata["called"], metadata["X-Customer-Id"]) == ("inbound", "service", "4711"), metadata
    assert "P-Asserted-Identity" not in metadata, "only the headers asked for (--sip-header) reach the agent"
    results = [m for m in got["control"] if m["type"] == "result"]
    assert [(r["id"], r["ok"]) for r in results] == [(1, True), (2, True)], results
    assert "sip:+14155550100@127.0.0.1" in results[1]["detail"], results[1]
    assert any("final=true" in line and "status=200" in line and "target=sip:+14155550100@127.0.0.1:" in line for line in log), log
    # One end packet thrice per key press, as RFC 4733 has it: events 1 then 2.
    assert [event for _, event in sorted(set(key_presses))] == [1, 2], key_presses


def test_two_hundred_concurrent_sipp_calls_with_rtp_both_ways():
    """SIPp places 200 calls (50 a second, 8 s each, all up at once); every offer names one RTP
    port of this test, which returns each packet the bridge sends to where it came from (so each
    call's caller talks at exactly the bridge's pace). Every call succeeds, each of the 200 call
    ports sends ~8 s of RTP, and every call ends with its frames taken and none short."""
    sip_port = free_port()
    reflector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reflector.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rtp_port = free_port_pair()
    reflector.bind(("127.0.0.1", rtp_port))
    reflector.settimeout(0.2)
    packets = {}
    stop = threading.Event()

    def reflect():
        while not stop.is_set():
            try:
                packet, source = reflector.recvfrom(2048)
            except socket.timeout:
                continue
            packets[source] = packets.get(source, 0) + 1
            reflector.sendto(packet, source)

    thread = threading.Thread(target=reflect, daemon=True)
    thread.start()
    try:
        with sip_bridge(sip_port, "--agent", "echo", "--no-barge-in") as server:
            server.wait_for(r"SIP listening on")
            args = [SIPP, "-sf", str(SCENARIOS / "call.xml"), "-m", "200", "-l", "200", "-r", "50", "-d", "8000", "-i", "127.0.0.1",
                    "-p", str(free_port()), "-key", "rtpport", str(rtp_port), "-nostdin", "-timeout", "60", "-timeout_error",
                    f"127.0.0.1:{sip_port}"]
            result = subprocess.run(args, capture_output=True, text=True, timeout=90)
            assert result.returncode == 0, result.stdout[-3000:]
            assert re.search(r"Successful call\s*\|\s*\d+\s*\|\s*200\b", result.stdout), result.stdout[-3000:]
            server.stop()
            lines = list(server.lines)
    finally:
        stop.set()
        thread.join()
        reflector.close()
    assert len(packets) == 200, f"{len(packets)} call ports sent RTP"
    assert min(packets.values()) >= 350, sorted(packets.values())[:10]
    ended = [re.search(r"frames_in=(\d+) frames_out=(\d+).*underrun_frames=(\d+)", line) for line in lines if "call ended" in line]
    assert len(ended) == 200, f"{len(ended)} calls ended"
    assert all(int(m.group(1)) >= 350 and int(m.group(3)) == 0 for m in ended), [m.group(0) for m in ended if int(m.group(1)) < 350 or int(m.group(3))][:5]


def test_an_sdes_srtp_call_against_libsrtp(tmp_path):
    """SIPp offers RTP/SAVP with our key; the bridge answers with its own. This test's media is
    SRTP by libsrtp (pylibsrtp): it protects the caller's words with our key and unprotects the
    bridge's packets with the key from the answer. With the echo agent a stretch of what comes
    back, decrypted, is the caller's audio, sample for sample, and every packet authenticated."""
    import base64
    from pylibsrtp import Policy, Session

    ours = bytes(range(1, 31))
    sip_port = free_port()
    caller = RTPCaller()
    trace = tmp_path / "sipp-messages.log"
    caller.protect = Session(policy=Policy(key=ours, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80)).protect
    with sip_bridge(sip_port, "--agent", "echo", "--no-barge-in", "--sip-srtp", "required") as server:
        server.wait_for(r"SIP listening on")
        call = sipp("call_srtp.xml", sip_port, caller.port, seconds=9, background=True,
                    extra=["-key", "srtpkey", base64.b64encode(ours).decode(), "-trace_msg", "-message_file", str(trace)])
        try:
            deadline = time.time() + 10
            while not (trace.exists() and "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" in trace.read_text().split("200 OK", 1)[-1]):
                assert time.time() < deadline, "no SRTP answer"
                time.sleep(0.05)
            answer = trace.read_text().split("200 OK", 1)[1]
            theirs = base64.b64decode(re.search(r"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/=]+)", answer).group(1))
            caller.unprotect = Session(policy=Policy(key=theirs, ssrc_type=Policy.SSRC_ANY_INBOUND,
                                                     srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80)).unprotect
            caller.wait_for_bridge()
            spoken = read_ulaw_wav(SAMPLE)[:3 * 8000]
            caller.send(spoken, seconds_of_silence_after=5)
            output, _ = call.communicate(timeout=30)
        finally:
            caller.close()
        assert call.returncode == 0, output
        server.wait_for(r"srtp=AES_CM_128_HMAC_SHA1_80.*SIP call answered")
    assert caller.undecryptable == 0
    heard = caller.heard()
    words = [ulaw_decode(code) for code in spoken]
    start = next(i for i, sample in enumerate(heard) if abs(sample) > 500)
    probe = heard[start + 800:start + 960]
    offset = next((o for o in range(len(words) - 160) if words[o:o + 160] == probe), None)
    assert offset is not None, "a stretch of the echo is, exactly, in the caller's words"
    stretch = min(len(words) - offset, len(heard) - start - 800, 8000)
    assert stretch >= 8000 and heard[start + 800:start + 800 + stretch] == words[offset:offset + stretch]


def test_a_caller_who_cancels_while_it_rings_never_reaches_the_agent():
    """With --sip-ring-ms the bridge rings before answering; SIPp CANCELs after 500 ms: 487 to
    the INVITE, the call ends before it was answered, no agent was started, no RTP was sent."""
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "echo", "--sip-ring-ms", "3000") as server:
        server.wait_for(r"SIP listening on")
        result = sipp("cancel.xml", sip_port, caller.port, seconds=0.5, timeout=10)
        assert result.returncode == 0, result.stdout[-3000:]
        server.wait_for(r"call=sip-1.*SIP call ended before it started")
        time.sleep(3)  # past the ring: nothing may start
        lines = list(server.lines)
    caller.close()
    assert not any("call started" in line for line in lines), lines
    assert caller.bridge is None, "no RTP from a call that was never answered"


def test_a_draining_bridge_answers_503_and_lets_its_call_finish():
    """SIGTERM with a call up: new INVITEs and OPTIONS get 503, the running call goes on until the
    caller's BYE, and then the server exits by itself."""
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "echo") as server:
        server.wait_for(r"SIP listening on")

        def drain():
            server.proc.terminate()
            server.wait_for(r"draining: new calls refused, 1 call\(s\) running")
            for scenario in ("draining.xml", "options_draining.xml"):
                result = sipp(scenario, sip_port, free_port_pair(), timeout=10)
                assert result.returncode == 0, f"{scenario}:\n{result.stdout[-2000:]}"

        call_with_media("call.xml", sip_port, caller, b"\xff" * 160 * 200, during=drain, seconds=4)
        server.wait_for(r"SIP call refused: draining \(503\)")
        server.wait_for(r"reason=hung up by the caller \(200 .*call ended")
        server.wait_for(r"every call has ended")
        assert server.proc.wait(10) == 0


def test_digest_authentication_of_callers():
    """With --sip-auth, SIPp's first INVITE is challenged (401, WWW-Authenticate: Digest); its
    retry with the right password (SIPp's own digest) is answered and the call runs; the wrong
    password is challenged again and counted; and a call without credentials never starts."""
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "echo", "--sip-auth", "trunk:s3cret", "--metrics", "127.0.0.1:0") as server:
        server.wait_for(r"SIP listening on .*\(digest authentication of callers\)")
        metrics_port = int(server.wait_for(r"metrics at http://127.0.0.1:(\d+)/metrics").group(1))
        wrong = sipp("auth_refused.xml", sip_port, free_port_pair(), timeout=10, extra=["-au", "trunk", "-ap", "guess"])
        assert wrong.returncode == 0, wrong.stdout[-2000:]
        unauthenticated = sipp("busy.xml", sip_port, free_port_pair(), timeout=5)
        assert unauthenticated.returncode != 0, "an INVITE without credentials is not answered 486 (it is challenged)"
        call_with_media("auth_call.xml", sip_port, caller, b"\xff" * 160 * 100, seconds=2, extra=["-au", "trunk", "-ap", "s3cret"])
        server.wait_for(r"user=trunk.*SIP caller authenticated")
        server.wait_for(r"reason=hung up by the caller \(200 .*call ended")
        import urllib.request
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        lines = list(server.lines)
    assert sum(1 for line in lines if "SIP caller's credentials refused (401)" in line) == 1, lines
    assert sum(1 for line in lines if "call started" in line) == 1, lines
    refused = [line for line in metrics.splitlines() if line.startswith("audiobridge_refused_calls_total") and 'transport="sip"' in line and "unauthorized" in line]
    assert refused and refused[0].rstrip().endswith(" 1"), refused or metrics


def post_call(api_port: int, target: str, token: str, **fields):
    """POST /calls; returns (HTTP status, JSON answer)."""
    import urllib.error
    import urllib.request
    request = urllib.request.Request(f"http://127.0.0.1:{api_port}/calls", data=json.dumps({"to": target, **fields}).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_bridge_places_calls_through_the_api():
    """POST /calls (bearer token) has the bridge INVITE SIPp as a callee: answered, the agent's
    600 ms are heard on the callee's RTP, the agent hangs up with BYE. A busy callee's 486 comes
    back as the API's answer; a wrong token is 401 and places nothing; `audiobridge dial` is the
    same call from the command line; a callee that only rings is CANCELled after the request's
    timeoutSeconds."""
    token = "t0ken-for-the-test-" + str(free_port())
    sip_port, callee_port = free_port(), free_port()
    callee = RTPCaller()
    with sip_bridge(sip_port, "--agent", "tone:440:600?then=hangup", "--api", "127.0.0.1:0",
                    env={"AUDIOBRIDGE_API_TOKEN": token}) as server:
        api_port = int(server.wait_for(r"call API at http://127.0.0.1:(\d+)/calls").group(1))
        assert post_call(api_port, f"sip:callee@127.0.0.1:{callee_port}", "wrong")[0] == 401
        uas = subprocess.Popen([SIPP, "-sf", str(SCENARIOS / "callee.xml"), "-m", "1", "-i", "127.0.0.1", "-p", str(callee_port),
                                "-key", "rtpport", str(callee.port), "-nostdin", "-timeout", "30", "-timeout_error"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)
        status, answer = post_call(api_port, f"sip:callee@127.0.0.1:{callee_port}", token)
        assert (status, answer["status"]) == (200, "answered"), answer
        callee.wait_for_bridge()
        callee.send(b"\xff" * 160 * 60, 0)
        output, _ = uas.communicate(timeout=20)
        assert uas.returncode == 0, output
        server.wait_for(r"direction=outbound.*call started")
        server.wait_for(r"reason=hung up by us \(BYE 200 .*call ended")

        busy_port = free_port()
        busy = subprocess.Popen([SIPP, "-sf", str(SCENARIOS / "callee_busy.xml"), "-m", "1", "-i", "127.0.0.1", "-p", str(busy_port),
                                 "-nostdin", "-timeout", "20", "-timeout_error"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)
        dial = subprocess.run([BIN / "audiobridge", "dial", f"sip:callee@127.0.0.1:{busy_port}", "--api", f"http://127.0.0.1:{api_port}"],
                              capture_output=True, text=True, timeout=30, env={**os.environ, "AUDIOBRIDGE_API_TOKEN": token})
        assert dial.returncode == 1 and json.loads(dial.stdout) == {"status": "failed", "sipStatus": 486, "reason": "refused by the callee"}, dial
        assert busy.wait(10) == 0

        # A callee that only rings: CANCELled after timeoutSeconds, and the API says so.
        silent_port = free_port()
        silent = subprocess.Popen([SIPP, "-sf", str(SCENARIOS / "callee_no_answer.xml"), "-m", "1", "-i", "127.0.0.1", "-p", str(silent_port),
                                   "-nostdin", "-timeout", "20", "-timeout_error"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)
        asked = time.monotonic()
        status, answer = post_call(api_port, f"sip:callee@127.0.0.1:{silent_port}", token, timeoutSeconds=2)
        assert (status, answer["sipStatus"], answer["reason"]) == (502, 408, "not answered within 2 s"), answer
        assert 1.5 <= time.monotonic() - asked <= 5
        output, _ = silent.communicate(timeout=10)
        assert silent.returncode == 0, output
        lines = list(server.lines)
    callee.close()
    assert sum(1 for line in lines if "call started" in line) == 1, lines
    heard = callee.heard()
    loud = sum(1 for i in range(0, len(heard) - 159, 160) if max(abs(s) for s in heard[i:i + 160]) > 1000)
    assert 28 <= loud <= 31, f"{loud} frames of the 600 ms tone heard by the callee"


@pytest.mark.parametrize("password, answered", [("s3cret", True), ("wrong", False)])
def test_a_trunk_that_challenges_our_calls_gets_our_credentials(password, answered):
    """SIPp as a trunk challenges the bridge's INVITE (401, digest) and checks the retry's
    credentials itself (verifyauth): with --sip-trunk-auth's right password the call is answered
    and runs; with a wrong one the trunk's 403 is the API's answer."""
    token = "t0ken-for-the-test-" + str(free_port())
    sip_port, trunk_port = free_port(), free_port()
    callee = RTPCaller()
    with sip_bridge(sip_port, "--agent", "tone:440:300?then=hangup", "--api", "127.0.0.1:0", "--sip-trunk-auth", f"trunk:{password}",
                    env={"AUDIOBRIDGE_API_TOKEN": token}) as server:
        api_port = int(server.wait_for(r"call API at http://127.0.0.1:(\d+)/calls").group(1))
        trunk = subprocess.Popen([SIPP, "-sf", str(SCENARIOS / "callee_auth.xml"), "-m", "1", "-i", "127.0.0.1", "-p", str(trunk_port),
                                  "-key", "rtpport", str(callee.port), "-nostdin", "-timeout", "20", "-timeout_error"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(0.5)
        status, answer = post_call(api_port, f"sip:+14155550100@127.0.0.1:{trunk_port}", token)
        if answered:
            assert (status, answer) == (200, {"call": "sip-1", "status": "answered"}), answer
            callee.wait_for_bridge()
            callee.send(b"\xff" * 160 * 40, 0)
            output, _ = trunk.communicate(timeout=20)
            assert trunk.returncode == 0, output
        else:
            assert (status, answer["sipStatus"]) == (502, 403), answer
            trunk.kill()
            trunk.wait()
    callee.close()


def test_session_timers(tmp_path):
    """RFC 4028 through sofia-sip: an INVITE asking for a 90 s session timer is answered with
    it; one asking for 30 s, below the minimum, gets 422."""
    sip_port = free_port()
    caller = RTPCaller()
    trace = tmp_path / "sipp-messages.log"
    with sip_bridge(sip_port, "--agent", "echo", "--sip-session-expires", "1800") as server:
        server.wait_for(r"SIP listening on")
        call_with_media("session_timer.xml", sip_port, caller, b"\xff" * 160 * 60, seconds=1,
                        extra=["-key", "expires", "90", "-trace_msg", "-message_file", str(trace)])
        too_short = sipp("session_too_short.xml", sip_port, free_port_pair(), timeout=10)
        assert too_short.returncode == 0, too_short.stdout[-2000:]
    answer = trace.read_text().split("SIP/2.0 200 OK", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"^Session-Expires: 90;refresher=uac", answer, re.MULTILINE), answer
    assert re.search(r"^Require: timer", answer, re.MULTILINE), answer


def test_malformed_sip_gets_a_sip_error_and_the_call_goes_on():
    """Requests a SIP parser must refuse — no Call-ID, a CSeq that is not a number, a body
    longer than its Content-Length says — sent as raw datagrams next to a live call: each is
    answered 400 (or dropped, when not even a response can be addressed), the call is unaffected."""
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "echo") as server:
        server.wait_for(r"SIP listening on")

        def malformed_requests():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                raw.bind(("127.0.0.1", 0))
                raw.settimeout(2)
                port = raw.getsockname()[1]
                base = (f"INVITE sip:service@127.0.0.1:{sip_port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{{n}}\r\n"
                        f"From: <sip:raw@127.0.0.1>;tag=r{{n}}\r\nTo: <sip:service@127.0.0.1>\r\nMax-Forwards: 70\r\n")
                for n, tail in enumerate(["CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",                      # no Call-ID
                                          "Call-ID: bad-cseq\r\nCSeq: one INVITE\r\nContent-Length: 0\r\n\r\n",  # CSeq not a number
                                          "Call-ID: bad-length\r\nCSeq: 1 INVITE\r\nContent-Length: 500\r\n\r\nv=0\r\n"]):
                    raw.sendto((base.format(n=n) + tail).encode(), ("127.0.0.1", sip_port))
                    answer = raw.recv(4096).decode(errors="replace")
                    assert answer.startswith("SIP/2.0 400"), answer

        call_with_media("call.xml", sip_port, caller, b"\xff" * 160 * 175, during=malformed_requests, seconds=4)
        ended = server.wait_for(r"frames_in=(\d+) frames_out=(\d+) reason=hung up by the caller.*call ended")
        assert int(ended.group(1)) >= 175 and sum(1 for line in list(server.lines) if "call started" in line) == 1


def test_a_caller_that_sends_no_rtp_is_hung_up():
    """A call whose caller sends no RTP for --rtp-idle-seconds (and is not on hold) gets our BYE."""
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "echo", "--rtp-idle-seconds", "2") as server:
        server.wait_for(r"SIP listening on")
        started = time.monotonic()
        result = sipp("bridge_hangs_up.xml", sip_port, caller.port, timeout=15)
        assert result.returncode == 0, result.stdout[-2000:]
        assert 1.5 <= time.monotonic() - started <= 6
        server.wait_for(r"no RTP for 2 s: hanging up")
        server.wait_for(r"reason=hung up by us \(BYE 200 .*call ended")
    caller.close()


def test_the_bridge_registers_with_a_trunk_and_keeps_it_registered():
    """--sip-register: SIPp as a registrar challenges the REGISTER, checks --sip-trunk-auth's
    credentials (403 if wrong, which ends the scenario without a refresh), grants 4 s, and gets
    the refresh before they run out (sofia-sip's): two registrations logged."""
    registrar_port = free_port()
    registrar = subprocess.Popen([SIPP, "-sf", str(SCENARIOS / "registrar.xml"), "-m", "1", "-i", "127.0.0.1", "-p", str(registrar_port),
                                  "-nostdin", "-timeout", "20", "-timeout_error"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    with sip_bridge(free_port(), "--agent", "echo", "--sip-register", f"sip:trunk@127.0.0.1:{registrar_port}", "--sip-register-seconds", "60",
                    "--sip-trunk-auth", "trunk:s3cret") as server:
        output, _ = registrar.communicate(timeout=20)
        assert registrar.returncode == 0, output
        # The refresh's 200 has gone out when SIPp ends; the bridge logs it a moment later.
        deadline = time.monotonic() + 5
        while sum(1 for line in list(server.lines) if "SIP registered" in line) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        registered = [line for line in list(server.lines) if "SIP registered" in line]
    assert len(registered) >= 2 and all("expires=4 status=200" in line for line in registered), registered
