#!/bin/sh
# SPDX-License-Identifier: MIT
# Memory and CPU under churn: many short paced AudioSocket calls through one server, a batch at a
# time, with the server's resident memory, CPU time and live objects recorded after each batch.
#
#   scripts/soak.sh TOTAL [BATCH] [SECONDS]      (e.g. scripts/soak.sh 100000 300 2)
#
# Starts the release server (`serve --audiosocket --agent echo --metrics`), then runs asload
# (../shared/tools/asload, or $ASLOAD_DIR) for batches of BATCH concurrent calls of SECONDS each
# until TOTAL calls have been made. After each batch, with no call running and after the server
# has given its free memory back (--trim-memory-seconds 1), it reads VmRSS and
# utime+stime from /proc and the live sessions, calls and agents from /metrics, and appends a row
# to out/soak.csv (calls, rss_kib, cpu_seconds, sessions, calls_alive, agents, failed). At the end
# it prints the RSS after the first 10,000 calls (or the first batch) and at the end, and plots
# the curve to out/soak.png (matplotlib, installed with pip when missing).
set -eu
cd "$(dirname "$0")/.."
total=$1
batch=${2:-300}
seconds=${3:-2}
port=${PORT:-9195}
metrics_port=${METRICS_PORT:-9196}
asload_src=${ASLOAD_DIR:-../shared/tools/asload}

# AUDIOBRIDGE_BIN: a binary already built (e.g. from another scratch path), else this builds one.
bin=${AUDIOBRIDGE_BIN:-}
if [ -z "$bin" ]; then
    swift build -c release --scratch-path .build-release --product audiobridge >/dev/null
    bin=.build-release/release/audiobridge
fi
work=$(mktemp -d)
cp -r "$asload_src"/. "$work"/
make -s -C "$work" asload >/dev/null
mkdir -p out

# The allocator's free memory goes back to the system a second after calls end (the default
# is 10 s); each reading waits for it, so the curve shows what is held, not what is free.
"$bin" serve --audiosocket "127.0.0.1:$port" --agent echo --metrics "127.0.0.1:$metrics_port" \
    --max-calls $((batch * 2)) --trim-memory-seconds 1 --log-level error >/dev/null 2>&1 &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
sleep 1

python3 - "$server" "$port" "$metrics_port" "$total" "$batch" "$seconds" "$work/asload" <<'PY'
import csv, json, os, re, subprocess, sys, time, urllib.request

server, port, metrics_port, total, batch, seconds, asload = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7]), sys.argv[7]
ticks = os.sysconf("SC_CLK_TCK")

def rss_kib():
    return int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{server}/status").read()).group(1))

def cpu_seconds():
    fields = open(f"/proc/{server}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks

def live():
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    values = dict(re.findall(r'audiobridge_live_objects\{kind="(\w+)"\} (\d+)', text))
    return [int(values.get(kind, -1)) for kind in ("session", "call", "agent")]

rows, made = [], 0
with open("out/soak.csv", "w", newline="") as out:
    writer = csv.writer(out)
    writer.writerow(["calls", "rss_kib", "cpu_seconds", "sessions", "calls_alive", "agents", "failed"])
    while made < total:
        n = min(batch, total - made)
        result = subprocess.run([asload, "--port", port, "--calls", str(n), "--duration", str(seconds), "--ramp", "1", "--json"],
                                capture_output=True, text=True, check=True)
        calls = json.loads(result.stdout)["calls"]
        made += n
        for _ in range(50):  # until every call of the batch has ended on the server
            if live() == [0, 0, 0]:
                break
            time.sleep(0.1)
        time.sleep(2.2)  # the server's trim (every second once calls have ended)
        row = [made, rss_kib(), round(cpu_seconds(), 2), *live(), calls["attempted"] - calls["completed"]]
        writer.writerow(row)
        out.flush()
        rows.append(row)
        print(*row, sep=",", flush=True)

reference = next((r for r in rows if r[0] >= 10_000), rows[0])
last = rows[-1]
print(f"RSS after {reference[0]} calls: {reference[1]} KiB; after {last[0]}: {last[1]} KiB "
      f"({100 * (last[1] - reference[1]) / reference[1]:+.1f} %); live objects at the end: {last[3:6]}")
PY

python3 -c "import matplotlib" 2>/dev/null || pip install -q matplotlib
python3 - <<'PY'
import csv
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open("out/soak.csv")))
calls = [int(r["calls"]) for r in rows]
figure, rss = plt.subplots(figsize=(8, 4))
rss.plot(calls, [int(r["rss_kib"]) / 1024 for r in rows], color="tab:blue")
rss.set_xlabel("calls made")
rss.set_ylabel("server RSS (MiB)", color="tab:blue")
cpu = rss.twinx()
cpu.plot(calls, [float(r["cpu_seconds"]) for r in rows], color="tab:red")
cpu.set_ylabel("server CPU (s)", color="tab:red")
figure.tight_layout()
figure.savefig("out/soak.png", dpi=100)
print("out/soak.csv, out/soak.png")
PY
