#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Coverage-guided fuzzing of every decoder (Fuzz/): builds the libFuzzer targets with
# AddressSanitizer, runs each for SECONDS seconds from a working copy of its seed corpus
# (Fuzz/Corpus/TARGET, committed, never written here), and prints per target the executions,
# the coverage (libFuzzer's edge counter "cov" and feature counter "ft") and the corpus size.
# A crash, a leak, a trap (a failed round-trip check included) or a timeout fails the run; its
# input is kept in .build-fuzz/crashes/TARGET/ to become a regression test.
#   scripts/fuzz.sh SECONDS [TARGET...]      (make fuzz SECONDS=N)
# RUNS=N stops a target after N executions instead, SECONDS then being the most it may take.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
scratch=.build-fuzz
# --sanitize sets up the executables (libFuzzer's main); -Xswiftc instruments the AudioBridge
# modules too, which SwiftPM builds as a dependency without --sanitize's flags. UBSan is not
# there for Swift on Linux (swiftc refuses -sanitize=undefined); Swift's own checks (overflow,
# bounds, unwrapping) trap, and libFuzzer reports a trap as a crash.
swift build --package-path Fuzz --scratch-path "$scratch" -c release --sanitize fuzzer --sanitize address \
    -Xswiftc -sanitize=fuzzer,address 2>&1 | grep -v "Cannot export local symbol" | tail -3

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for source in Fuzz/Sources/Fuzz*; do targets+=("${source##*/Fuzz}"); done
fi

# A Swift trap is reported by libFuzzer's own handler ("Swift runtime failure: …" in the stack),
# not by the Swift runtime's backtracer, which trips AddressSanitizer reading the crashed process.
export SWIFT_BACKTRACE=enable=no
failed=()
printf '%-18s %12s %10s %8s %8s %8s\n' target executions "exec/s" cov ft corpus
for target in "${targets[@]}"; do
    work="$scratch/corpus/$target"
    crashes="$scratch/crashes/$target"
    log="$scratch/logs/$target.log"
    mkdir -p "$work" "$crashes" "$(dirname "$log")"
    status=0
    # One process, 2 GB of memory at most, 10 s for one input; -max_len covers our largest
    # messages (a JSON agent message, an SDP, a datagram).
    "$scratch/release/Fuzz$target" -max_total_time="$seconds" ${RUNS:+-runs=$RUNS} -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
        -max_len=16384 -artifact_prefix="$crashes/" "$work" "Fuzz/Corpus/$target" >"$log" 2>&1 || status=$?
    # (sed finds nothing in the log of a run that died early: the row shows "?")
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    coverage=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)
    features=$( (grep -o 'ft: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)
    printf '%-18s %12s %10s %8s %8s %8s\n' "$target" "${executions:-?}" "${speed:-?}" "${coverage:-?}" "${features:-?}" "$(ls "$work" | wc -l)"
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        grep -E "ERROR|runtime failure|SUMMARY|Test unit written" "$log" | head -6 | sed 's/^/    /'
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: found something in ${failed[*]} (logs in $scratch/logs, inputs in $scratch/crashes)"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, nothing found"
