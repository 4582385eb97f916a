# SPDX-License-Identifier: MIT
"""Scale-out behind Kamailio (Debian's kamailio, its dispatcher module), with the configuration
shipped in deploy/kamailio/: two `audiobridge serve --sip` instances, SIPp placing calls through
Kamailio. New calls are spread across both; when one drains (SIGTERM: its OPTIONS and INVITEs
answer 503) every new call goes to the other; when one is killed, likewise (a timed-out INVITE
fails over, the OPTIONS probe takes it out)."""
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from peers import BIN, ROOT, Process
from test_sip_peer import SCENARIOS, SIPP, free_port, free_port_pair

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
DEPLOY = ROOT / "deploy" / "kamailio"


class Reflector:
    """The callers' RTP: one port named by every offer; each packet a bridge sends goes back to
    where it came from."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.port = free_port_pair()
        self.socket.bind(("127.0.0.1", self.port))
        self.socket.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                packet, source = self.socket.recvfrom(2048)
            except socket.timeout:
                continue
            self.socket.sendto(packet, source)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.socket.close()


def bridge(port: int) -> Process:
    rtp = min(free_port_pair(), 64000)
    process = Process([BIN / "audiobridge", "serve", "--audiosocket", "127.0.0.1:0", "--sip", f"127.0.0.1:{port}", "--rtp-ports",
                       f"{rtp}-{rtp + 199}", "--agent", "echo", "--drain-seconds", "30"])
    process.wait_for(r"SIP listening on")
    return process


def calls_started(process: Process) -> int:
    return sum(1 for line in list(process.lines) if "call started" in line)


def place_calls(proxy_port: int, rtp_port: int, count: int, seconds: float = 1.0, target: int = None):
    """SIPp places `count` calls (2 a second) through Kamailio, or straight to `target`."""
    errors = Path(tempfile.mkdtemp()) / "sipp-errors.log"
    result = subprocess.run([SIPP, "-sf", str(SCENARIOS / "call.xml"), "-m", str(count), "-r", "2", "-l", str(count), "-d", str(int(seconds * 1000)),
                             "-i", "127.0.0.1", "-p", str(free_port()), "-key", "rtpport", str(rtp_port), "-nostdin", "-trace_err", "-error_file", str(errors),
                             "-timeout", "60", "-timeout_error", f"127.0.0.1:{target or proxy_port}"],
                            capture_output=True, text=True, timeout=90)
    if result.returncode != 0 and errors.exists():
        print(errors.read_text()[:6000])
    return result


def wait_until(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, what
        time.sleep(0.1)


def test_kamailio_spreads_calls_and_fails_over_when_a_bridge_drains_or_dies(tmp_path):
    proxy_port, port_a, port_b = free_port(), free_port(), free_port()
    (tmp_path / "dispatcher.list").write_text(f"1 sip:127.0.0.1:{port_a}\n1 sip:127.0.0.1:{port_b}\n")
    reflector = Reflector()
    a, b = bridge(port_a), bridge(port_b)
    kamailio = Process([KAMAILIO, "-f", str(DEPLOY / "kamailio.cfg"), "-DD", "-E", "-m", "64", "-M", "8", "-Y", str(tmp_path),
                        "-A", f"LISTEN=udp:127.0.0.1:{proxy_port}", "-A", f'DISPATCHER_LIST="{tmp_path / "dispatcher.list"}"'])
    try:
        kamailio.wait_for(r"Listening on", timeout=20)
        time.sleep(3)  # the first OPTIONS round

        # Both bridges take calls.
        result = place_calls(proxy_port, reflector.port, 8)
        assert result.returncode == 0, result.stdout[-3000:]
        assert calls_started(a) >= 3 and calls_started(b) >= 3, (calls_started(a), calls_started(b))

        # A drains (a call of its own keeps it up): every new call goes to B.
        before_held = calls_started(a)
        held = subprocess.Popen([SIPP, "-sf", str(SCENARIOS / "call.xml"), "-m", "1", "-d", "12000", "-i", "127.0.0.1", "-p", str(free_port()),
                                 "-key", "rtpport", str(reflector.port), "-nostdin", f"127.0.0.1:{port_a}"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_until(lambda: calls_started(a) == before_held + 1, 5, "the call held on A started")
        before_a, before_b = calls_started(a), calls_started(b)
        a.proc.send_signal(signal.SIGTERM)
        a.wait_for(r"draining: new calls refused")
        result = place_calls(proxy_port, reflector.port, 6)
        assert result.returncode == 0, result.stdout[-3000:]
        assert calls_started(a) == before_a and calls_started(b) == before_b + 6, (calls_started(a), before_a, calls_started(b), before_b)
        held.communicate(timeout=30)
        assert held.returncode == 0
        assert a.proc.wait(15) == 0

        # A comes back; B is killed: every new call goes to A.
        a = bridge(port_a)
        time.sleep(4)  # A answers Kamailio's OPTIONS again and is back in rotation
        b.proc.kill()
        b.proc.wait()
        result = place_calls(proxy_port, reflector.port, 6)
        assert result.returncode == 0, result.stdout[-3000:]
        assert calls_started(a) == 6, calls_started(a)
    except AssertionError:
        print("\n".join(kamailio.lines[-40:]))  # Kamailio's view of the calls, under pytest -s
        raise
    finally:
        for process in (kamailio, a, b):
            process.stop()
        reflector.close()
