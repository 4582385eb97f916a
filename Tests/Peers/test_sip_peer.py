# SPDX-License-Identifier: MIT
"""`serve --sip` against SIPp (Debian's sip-tester), an independent SIP implementation, driving the
scenarios in Tests/Peers/sip/. SIPp does the signalling; the RTP of the call is this test's own
socket, whose port the SDP offer names: it streams the sample WAV as PCMU in 20 ms packets and
keeps what the bridge sends back. With the echo agent, what comes back must be the caller's audio,
sample for sample. Then: the bridge's BYE when the agent ends the call, OPTIONS, 486 at
--max-calls, 400 for a broken SDP and 488 for an offer without audio, each next to a live call
that must go on."""
import shutil
import socket
import struct
import subprocess
import threading
import time

from peers import BIN, ROOT, read_ulaw_wav, running, ulaw_decode
from test_rtp_peer import assert_echo_is_the_caller, free_port_pair

SCENARIOS = ROOT / "Tests" / "Peers" / "sip"
SAMPLE = ROOT / "samples" / "caller-ulaw-8k.wav"
SIPP = shutil.which("sipp")

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sip_bridge(sip_port: int, *extra):
    rtp = free_port_pair()  # the pool skips ports another process holds
    return running([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--sip", f"127.0.0.1:{sip_port}",
                    "--rtp-ports", f"{rtp}-{min(rtp + 99, 65535)}", *extra])


def sipp(scenario: str, sip_port: int, rtp_port: int, seconds: float = 0, timeout: float = 40, background=False):
    """SIPp runs one call of `scenario` against the bridge; -d is the call's pause (ms)."""
    assert SIPP, "SIPp is the SIP peer (make deps installs sip-tester)"
    args = [SIPP, "-sf", str(SCENARIOS / scenario), "-m", "1", "-d", str(int(seconds * 1000)), "-i", "127.0.0.1",
            "-p", str(free_port()), "-key", "rtpport", str(rtp_port), "-nostdin", "-timeout", str(int(timeout)),
            "-timeout_error", f"127.0.0.1:{sip_port}"]
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
        self.bridge = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self):
        while not self._stop.is_set():
            try:
                packet, source = self.socket.recvfrom(2048)
            except socket.timeout:
                continue
            if len(packet) >= 12 and packet[1] & 0x7F in (0, 8):
                self.bridge = self.bridge or source
                self.received.append(packet[12:])

    def wait_for_bridge(self, timeout=10):
        deadline = time.time() + timeout
        while self.bridge is None and time.time() < deadline:
            time.sleep(0.02)
        assert self.bridge, "the bridge sent RTP to the port our SDP offered"

    def send(self, payload: bytes, seconds_of_silence_after: float):
        frames = [payload[i:i + 160] for i in range(0, len(payload) - 159, 160)]
        frames += [b"\xff" * 160] * int(seconds_of_silence_after * 50)
        start = time.monotonic()
        for n, frame in enumerate(frames):
            header = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, (n * 160) & 0xFFFFFFFF, 0x5151)
            self.socket.sendto(header + frame, self.bridge)
            time.sleep(max(0, start + (n + 1) * 0.02 - time.monotonic()))

    def close(self):
        self._stop.set()
        self._thread.join()
        self.socket.close()

    def heard(self) -> list:
        return [ulaw_decode(code) for payload in self.received for code in payload]


def test_a_sipp_call_hears_its_own_words_back_sample_for_sample():
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "echo", "--no-barge-in") as server:
        server.wait_for(r"SIP listening on")
        call = sipp("call.xml", sip_port, caller.port, seconds=21, background=True)
        try:
            caller.wait_for_bridge()
            caller.send(read_ulaw_wav(SAMPLE), seconds_of_silence_after=12)
            output, _ = call.communicate(timeout=30)
        finally:
            caller.close()
        assert call.returncode == 0, output
        server.wait_for(r"reason=hung up by the caller \(200 .*call ended")
        server.wait_for(r"codec=ulaw.*srtp=no")
    assert_echo_is_the_caller(caller.heard())


def test_the_bridge_hangs_up_with_bye_when_the_agent_ends_the_call():
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "tone:440:600?then=hangup") as server:
        server.wait_for(r"SIP listening on")
        call = sipp("bridge_hangs_up.xml", sip_port, caller.port, background=True)
        try:
            caller.wait_for_bridge()
            # The caller keeps sending while the tone plays, as a phone does.
            caller.send(b"\xff" * 160 * 100, seconds_of_silence_after=0)
            output, _ = call.communicate(timeout=30)
        finally:
            caller.close()
        assert call.returncode == 0, output
        server.wait_for(r"reason=hung up by us \(BYE 200 .*call ended")
    heard = caller.heard()
    loud = sum(1 for i in range(0, len(heard) - 159, 160) if max(abs(s) for s in heard[i:i + 160]) > 1000)
    assert 28 <= loud <= 31, f"{loud} frames of the 600 ms tone heard before the BYE"


def test_options_busy_broken_sdp_and_no_audio_each_get_their_answer_while_a_call_goes_on():
    sip_port = free_port()
    caller = RTPCaller()
    with sip_bridge(sip_port, "--agent", "echo", "--max-calls", "1") as server:
        server.wait_for(r"SIP listening on")
        call = sipp("call.xml", sip_port, caller.port, seconds=6, background=True)
        try:
            caller.wait_for_bridge()
            sending = threading.Thread(target=caller.send, args=(b"\xff" * 160 * 250, 0), daemon=True)
            sending.start()
            for scenario in ("options.xml", "busy.xml", "broken_sdp.xml", "video_only.xml"):
                result = sipp(scenario, sip_port, free_port_pair(), timeout=10)
                assert result.returncode == 0, f"{scenario}:\n{result.stdout[-2000:]}"
            # A datagram that is not SIP: dropped by the SIP stack, nothing else happens.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as garbage:
                garbage.sendto(b"\x00\x01 not a SIP message\r\n\r\n", ("127.0.0.1", sip_port))
            output, _ = call.communicate(timeout=20)
            sending.join()
        finally:
            caller.close()
        assert call.returncode == 0, output
        server.wait_for(r"SIP call refused: at --max-calls \(486\)")
        server.wait_for(r"INVITE refused \(400\): SDP does not start with v=0")
        server.wait_for(r"INVITE refused \(488\): video is not audio")
        ended = server.wait_for(r"frames_in=(\d+) frames_out=(\d+) reason=hung up by the caller.*call ended")
        assert int(ended.group(1)) >= 250, "the live call took every frame sent while the others were refused"
