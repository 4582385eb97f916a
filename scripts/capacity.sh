#!/bin/sh
# SPDX-License-Identifier: MIT
# How many concurrent paced full-duplex AudioSocket calls `audiobridge serve --agent echo` carries
# on this machine, with the load generator on the same machine.
#
#   scripts/capacity.sh [CALLS ...]        (default: 200 500 600)
#
# For each call count it starts a fresh release server and loads it twice: with our own
# Asterisk-like generator (`audiobridge load`), then — when it is there — with asload, the
# independent AudioSocket load generator in ../shared/tools/asload (or $ASLOAD_DIR), built into
# a temporary directory. Our generator is a NIO program with user-space timestamps: on two cores it
# runs out of CPU before the server does above about 300 calls, so the verdict is asload's, which
# timestamps in the kernel and reports when it is itself overloaded. A count passes when every
# call completed, the received-frame gap p99 is at most 25 ms, asload saw 0 underruns and was
# not overloaded (a late generator's figures are its own, not the server's). Each run lasts $SECONDS_PER_RUN seconds (default 20).
# REFERENCE=1 also runs asload against its minimal C echo server (no DSP) at each count: the
# machine's own ceiling for the same traffic, measured the same day. OWN_GENERATOR=0 leaves our
# generator out (above 300 calls its figures are its own limits).
# THREADS (default 1) is our server's --threads. The C echo server and asload are one thread each:
# with one server thread each process has a core of its own, as the C server has. With two, three
# busy threads share the two cores, and waiting for a core, more than the work, sets the p99 gap (in one
# run the two-thread server failed 1,500 calls at p99 26.0 ms using 79 % of a core, the one-thread
# server passed it at 22.2 ms using 83 %). THREADS=2 measures that set-up.
set -eu

cd "$(dirname "$0")/.."
seconds=${SECONDS_PER_RUN:-20}
port=${PORT:-9193}
threads=${THREADS:-1}
counts=${*:-200 500 600}
asload_src=${ASLOAD_DIR:-../shared/tools/asload}

# AUDIOBRIDGE_BIN: a binary already built (e.g. from another scratch path), else this builds one.
bin=${AUDIOBRIDGE_BIN:-}
if [ -z "$bin" ]; then
    swift build -c release --scratch-path .build-release --product audiobridge >/dev/null
    bin=.build-release/release/audiobridge
fi

asload=""
if [ -f "$asload_src/asload.c" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp -r "$asload_src"/. "$work"/
    make -s -C "$work" asload echo_server >/dev/null
    asload="$work/asload"
else
    echo "asload not found at $asload_src: running our generator only"
fi

metrics_port=$((port + 1))

start_server() {
    "$bin" serve --audiosocket "127.0.0.1:$port" --agent echo --threads "$threads" --metrics "127.0.0.1:$metrics_port" --log-level error >/dev/null &
    server=$!
    sleep 1
}

# The caller frames our server read, from its /metrics (after the calls, before it stops).
frames_read() {
    python3 - "$metrics_port" <<'EOF'
import re, sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
print(int(float(re.search(r'^audiobridge_frames_in_total\{transport="audiosocket"\} (\S+)', text, re.M).group(1))))
EOF
}

# A count also fails if the server left more than one frame per call unread: a server that falls
# behind reading keeps its frames out on time while the callers' audio waits in the sockets, and
# what is still unread when a caller hangs up is lost (a frame of ours arriving after asload's
# last read turns its close into a reset, which discards our socket's unread bytes). One frame
# per call is allowed for that race: a server that reads on the pacer's clock, not the moment a
# frame arrives, can lose the caller's last frame to it.
report() {
    python3 - "$work/run.json" "$1" "$2" "$3" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
calls, gap, und, gen = d["calls"], d["gap_ms"], d["underruns"], d["generator"]
sent, read = d["frames"]["sent"], int(sys.argv[4])
failed = [reason for reason, bad in [("calls not completed", calls["completed"] != calls["attempted"]), ("gap p99 over 25 ms", gap["p99"] > 25),
                                     ("underruns", und["total"] > 0), ("generator overloaded", gen["overloaded"]), ("more frames unread than calls", sent - read > calls["attempted"])] if bad]
print(f"[{sys.argv[2]} calls] asload → {sys.argv[3]}: {calls['completed']}/{calls['attempted']} completed, received-frame gap p50 {gap['p50']} ms, "
      f"p99 {gap['p99']} ms, underruns {und['total']}, frames read {read}/{sent}, server CPU {d['server']['cpu_pct_of_one_core']}% of one core, "
      f"generator {gen['cpu_pct_of_one_core']}%{' OVERLOADED: ' + gen['overload_reason'] if gen['overloaded'] else ''} → {'FAIL: ' + ', '.join(failed) if failed else 'PASS'}")
EOF
}

stop_server() {
    kill -INT "$server"
    wait "$server" || true
}

for calls in $counts; do
    if [ "${OWN_GENERATOR:-1}" = 1 ]; then
        start_server
        "$bin" load --audiosocket "127.0.0.1:$port" --calls "$calls" --seconds "$seconds" --ramp 3 --server-pid "$server" | sed "s/^/[$calls calls] /"
        stop_server
    fi
    if [ -n "$asload" ]; then
        start_server
        "$asload" --port "$port" --calls "$calls" --duration "$seconds" --ramp 3 --server-pid "$server" --json-file "$work/run.json" >/dev/null
        read_frames=$(frames_read)
        stop_server
        report "$calls" audiobridge "$read_frames"
        if [ "${REFERENCE:-0}" = 1 ]; then
            "$work/echo_server" --port "$port" 2>"$work/echo.json" &
            server=$!
            sleep 1
            "$asload" --port "$port" --calls "$calls" --duration "$seconds" --ramp 3 --server-pid "$server" --json-file "$work/run.json" >/dev/null
            stop_server
            # Its statistics line (on stderr at exit) counts the audio messages it read.
            read_frames=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["echo_server"]["rx_audio"])' "$work/echo.json")
            report "$calls" "C echo_server (reference)" "$read_frames"
        fi
    fi
done
