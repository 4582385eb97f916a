#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs example_host against each kind of agent and checks what it printed and wrote:
#   test_example_host.sh <example_host binary> <caller.wav> <out-dir>
set -eu
host=$1 caller=$2 out=$3
passed=0 failed=0
expect() {  # expect DESCRIPTION COMMAND...
    what=$1; shift
    if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $what"; fi
}
mkdir -p "$out"
for agent in echo c-beep tone; do
    log="$out/example-host-$agent.log"
    "$host" "$caller" "$out/heard-$agent.wav" "$agent" > "$log"
    expect "$agent: speech detected" grep -q "speech_started" "$log"
    expect "$agent: the agent answered and was heard in full at least once" grep -q "playout_finished" "$log"
    expect "$agent: no underrun, no loss" grep -Eq "summary: .* underruns=0 uplink_dropped=0 events_dropped=0" "$log"
    expect "$agent: transport connected first, disconnected never (destroyed after the summary)" sh -c "head -1 '$log' | grep -q transport_connected"
    # 44-byte header + one μ-law byte per 8 kHz sample of every frame
    frames=$(sed -n 's/^summary: .* frames=\([0-9]*\) .*/\1/p' "$log")
    size=$(wc -c < "$out/heard-$agent.wav")
    expect "$agent: heard.wav holds every frame" test "$size" -eq $((44 + frames * 160))
done
for agent in echo tone; do  # the beep is over before the caller talks again
    expect "$agent: the caller talked over the agent" grep -Eq "barge_in +item=[0-9]+ heard=[0-9]+ms" "$out/example-host-$agent.log"
done
expect "echo: the echo is as long as what the caller said (about 8 s, and the 0.6 s that ends the turn)" grep -Eq "playout_finished +item=[0-9]+ heard=(79|8[0-6])[0-9][0-9]ms" "$out/example-host-echo.log"
expect "c-beep: the C transport saw the caller's audio" grep -q "c-beep: closed after [1-9][0-9]* bytes" "$out/example-host-c-beep.log"
echo "example_host: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
