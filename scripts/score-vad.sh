#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Scores barge-in on a labelled corpus in the format of ../shared/vad-dev (README there): runs
# `audiobridge vad` on every call (with its echo reference when there is one) and prints the
# corpus scorer's tables three times:
#   frames    the speech state: frame F1, and onset latency (an onset is where playout pauses)
#   triggers  committed barge-ins: FB/min is the false barge-ins that would cut the agent
#   pauses    pauses that resumed: FB/min counts those outside caller speech
# and a summary line per split (scripts/vad-summary.py): committed false barge-ins, resumed
# pauses per minute, pause → commit latency.
#
#   scripts/score-vad.sh [CORPUS_DIR] [SPLIT ...] [-- extra `audiobridge vad` options]
#   scripts/score-vad.sh ../shared/vad-dev dev dev_human
#   python3 scripts/heldout-calls.py out/heldout && scripts/score-vad.sh out/heldout heldout
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/vad-dev}
shift || true
splits=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do splits+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#splits[@]} -gt 0 ] || splits=(dev dev_human)
binary=.build-release/release/audiobridge
[ -x "$binary" ] || swift build -c release --scratch-path .build-release --product audiobridge >&2
out=${VAD_OUT:-out/vad}
# The corpus's own scorer, or shared/vad-dev's for corpora made in its format (heldout-calls.py).
scorer="$corpus/score.py"
[ -f "$scorer" ] || scorer=../shared/vad-dev/score.py
for split in "${splits[@]}"; do
    rm -rf "$out/$split"
    mkdir -p "$out/$split/frames" "$out/$split/triggers" "$out/$split/pauses"
    for wav in "$corpus/$split"/*.wav; do
        case "$wav" in *.ref.wav) continue ;; esac
        call=$(basename "$wav" .wav)
        reference=()
        [ -f "$corpus/$split/$call.ref.wav" ] && reference=(--reference "$corpus/$split/$call.ref.wav")
        "$binary" vad "$wav" "${reference[@]}" --frames "$out/$split/frames/$call.frames.txt" \
            --triggers "$out/$split/triggers/$call.triggers.txt" --pauses "$out/$split/pauses/$call.triggers.txt" "$@" &
        # Two at a time (the machine has two cores).
        [ "$(jobs -r | wc -l)" -ge 2 ] && wait -n
    done
    wait
    for view in frames triggers pauses; do
        if [ -z "${QUIET:-}" ]; then
            echo "== $split: $view"
            python3 "$scorer" --corpus "$corpus/$split" --outputs "$out/$split/$view" --json "$out/$split/$view.json"
        else
            python3 "$scorer" --corpus "$corpus/$split" --outputs "$out/$split/$view" --json "$out/$split/$view.json" >/dev/null
        fi
    done
    python3 scripts/vad-summary.py "$corpus/$split" "$out/$split"
done
