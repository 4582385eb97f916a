# SPDX-License-Identifier: MIT
"""One browser call through Janus to `serve --sip`, run inside a network namespace of its own
(`unshare --net python3 janus_browser_call.py OUT WAV SECONDS`, as test_janus_browser_peer.py
does): Janus gathers no ICE candidates on `lo`, so the namespace gets a veth pair with
127.0.0.2 on one end, and every process of the call — the bridge (echo agent), Janus with
deploy/janus's configuration, this script's web server and headless Chromium, whose fake
microphone plays WAV — uses that address only. The page (deploy/janus/index.html) posts what
it heard and its log back here; they land in OUT with every process's log."""
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("AUDIOBRIDGE_BIN_DIR", ROOT / ".build-release" / "release"))
DEPLOY = ROOT / "deploy" / "janus"
ADDRESS = "127.0.0.2"


def network():
    for command in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "add", "ab0", "type", "veth", "peer", "name", "ab1"],
                    ["ip", "addr", "add", f"{ADDRESS}/32", "dev", "ab0"],
                    ["ip", "link", "set", "ab0", "up"],
                    ["ip", "link", "set", "ab1", "up"]):
        subprocess.run(command, check=True)


class Reports(http.server.BaseHTTPRequestHandler):
    """GET: the page; POST /report/NAME: a file the page sends back, kept in `folder`."""
    folder: Path = None
    arrived = threading.Event()

    def do_GET(self):
        if self.path.split("?")[0] not in ("/", "/index.html"):
            self.send_error(404)
            return
        body = (DEPLOY / "index.html").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        name = self.path.rsplit("/", 1)[-1]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if name in ("heard.wav", "log.json"):
            (self.folder / name).write_bytes(body)
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        if name == "log.json":
            Reports.arrived.set()

    def log_message(self, *args):
        pass


def main(out: Path, wav: Path, seconds: int):
    network()
    logs = {name: open(out / f"{name}.log", "w") for name in ("bridge", "janus", "chromium")}
    processes = []
    try:
        processes.append(subprocess.Popen([BIN / "audiobridge", "serve", "--audiosocket", f"{ADDRESS}:0", "--sip", f"{ADDRESS}:5060",
                                           "--rtp-ports", "40000-40099", "--agent", "echo", "--record", out], stdout=logs["bridge"], stderr=subprocess.STDOUT))
        processes.append(subprocess.Popen(["janus", "-F", DEPLOY, "-C", DEPLOY / "janus.jcfg", "-E", "ab0", "-o"],
                                          stdout=logs["janus"], stderr=subprocess.STDOUT, cwd=out))
        Reports.folder = out
        server = http.server.ThreadingHTTPServer((ADDRESS, 8080), Reports)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        wait_for_port(8088)
        page = f"http://{ADDRESS}:8080/index.html?autostart=1&seconds={seconds}&report=http://{ADDRESS}:8080/report"
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        processes.append(subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + str(out / "profile"),
                                           "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                                           f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required",
                                           "--enable-logging=stderr", page], stdout=logs["chromium"], stderr=subprocess.STDOUT))
        if not Reports.arrived.wait(seconds + 40):
            print("the page reported nothing", file=sys.stderr)
        time.sleep(1)  # the bridge logs the call's end
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for_port(port: int, timeout: float = 15):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex((ADDRESS, port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing listens on {ADDRESS}:{port}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
