#!/bin/sh
# SPDX-License-Identifier: MIT
# Server CPU and received-frame gap of `serve --audiosocket --agent echo` builds side by side,
# next to asload's minimal C echo server, on the same machine in the same run:
#
#   scripts/capacity-compare.sh CALLS BINARY... (e.g. 1000 /tmp/before/audiobridge .build-release/release/audiobridge)
#
# For each round (ROUNDS, default 2) every binary (with `--threads $THREADS`, default 1 as in
# scripts/capacity.sh, which says why, and $SERVER_ARGS added to its `serve`) and
# then the C echo server take CALLS paced
# AudioSocket calls of SECONDS_PER_RUN (default 30) from ../shared/tools/asload (or $ASLOAD_DIR),
# one after the other, and one line per run says calls completed, gap p50/p99, underruns, the
# server's CPU (% of one core), its resident memory idle and halfway through the calls (and the
# difference per call), and whether asload was itself overloaded. "per generator CPU" divides
# the server's CPU by asload's own: asload does the same work in every run, so its CPU shows how
# fast the shared machine ran at the time, and the quotient moves much less between runs than
# the server's CPU alone (asload's work is not wholly independent of the server's: it reads
# what the server sends).
set -eu
cd "$(dirname "$0")/.."
calls=$1
shift
seconds=${SECONDS_PER_RUN:-30}
SERVER_ARGS=${SERVER_ARGS:-}  # more `serve` options for every binary, e.g. --no-barge-in
rounds=${ROUNDS:-2}
threads=${THREADS:-1}
port=${PORT:-9194}
asload_src=${ASLOAD_DIR:-../shared/tools/asload}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$asload_src"/. "$work"/
make -s -C "$work" asload echo_server >/dev/null

rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }

run() {
    label=$1
    shift
    "$@" >/dev/null 2>&1 &
    server=$!
    sleep 1
    idle_rss=$(rss "$server")
    # Resident memory with every call up: sampled halfway through the calls.
    (sleep $((3 + seconds / 2)); rss "$server" > "$work/busy_rss") &
    "$work/asload" --port "$port" --calls "$calls" --duration "$seconds" --ramp 3 --server-pid "$server" --json-file "$work/run.json" >/dev/null
    kill -INT "$server"
    wait "$server" || true
    python3 - "$work/run.json" "$label" "$idle_rss" "$(cat "$work/busy_rss")" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c, g, gen = d["calls"], d["gap_ms"], d["generator"]
idle, busy = int(sys.argv[3]), int(sys.argv[4])
print(f"{sys.argv[2]}: {c['completed']}/{c['attempted']} calls, gap p50 {g['p50']} ms p99 {g['p99']} ms, underruns {d['underruns']['total']}, "
      f"server CPU {d['server']['cpu_pct_of_one_core']}% of one core ({d['server']['cpu_pct_of_one_core'] / max(0.1, gen['cpu_pct_of_one_core']):.2f} per generator CPU), RSS {idle // 1024} MiB idle, {busy // 1024} MiB with the calls "
      f"({(busy - idle) / max(1, c['attempted']):.0f} KiB a call), generator {gen['cpu_pct_of_one_core']}%"
      + (f" (overloaded: {gen['overload_reason']})" if gen["overloaded"] else ""))
PY
}

for round in $(seq "$rounds"); do
    for binary in "$@"; do
        # shellcheck disable=SC2086 # SERVER_ARGS is a list of words
        run "[round $round] $binary --threads $threads $SERVER_ARGS" "$binary" serve --audiosocket "127.0.0.1:$port" --agent echo --threads "$threads" --log-level error $SERVER_ARGS
    done
    run "[round $round] C echo_server" "$work/echo_server" --port "$port"
done
