#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One summary of barge-in on one corpus split, from the outputs score-vad.sh wrote:

    python3 scripts/vad-summary.py CORPUS_SPLIT_DIR OUT_SPLIT_DIR

frame F1 and onset latency (frames), committed false barge-ins per minute overall and per
condition (triggers), resumed pauses per minute of call (pauses, wherever they fall), and the
pause → commit latency (each commit against the speech onset it followed).
"""
import json
import sys
from pathlib import Path


def times(path: Path) -> list[float]:
    if not path.exists():
        return []
    return [float(line) for line in path.read_text().split() if line and not line.startswith("#")]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    position = (len(values) - 1) * q
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def main() -> None:
    corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
    frames = json.loads((out / "frames.json").read_text())
    triggers = json.loads((out / "triggers.json").read_text())
    minutes = 0.0
    resumed = 0
    confirm = []
    for meta_path in sorted(corpus.glob("*.json")):
        if meta_path.name == "INFO.json":
            continue
        call = meta_path.stem
        meta = json.loads(meta_path.read_text())
        minutes += meta["duration_s"] / 60
        resumed += len(times(out / "pauses" / f"{call}.triggers.txt"))
        states = [line.strip() == "1" for line in (out / "frames" / f"{call}.frames.txt").read_text().split()]
        onsets = [(i + 1) * 10 for i, s in enumerate(states) if s and (i == 0 or not states[i - 1])]
        for commit in times(out / "triggers" / f"{call}.triggers.txt"):
            before = [o for o in onsets if o <= commit]
            if before:
                confirm.append(commit - before[-1])
    all_frames, all_triggers = frames["ALL"], triggers["ALL"]

    def fmt(value, spec=".2f"):
        return "-" if value is None else format(value, spec)

    print(f"{corpus.name}: F1 {fmt(all_frames['f1'], '.3f')}, onset→pause p50/p95 "
          f"{fmt(all_frames['latency_median_ms'], '.0f')}/{fmt(all_frames['latency_p95_ms'], '.0f')} ms; "
          f"committed FB/min {fmt(all_triggers['false_per_min'])}, missed {all_triggers['misses']}/{all_triggers['utterances']}; "
          f"resumed pauses/min {resumed / minutes:.2f}; pause→commit p50/p95 "
          f"{fmt(percentile(confirm, 0.5), '.0f')}/{fmt(percentile(confirm, 0.95), '.0f')} ms")
    by_condition = {k: v for k, v in triggers.items() if k != "ALL"}
    print("  committed FB/min by condition: " + ", ".join(
        f"{k} {fmt(v['false_per_min'])}" for k, v in sorted(by_condition.items())))


if __name__ == "__main__":
    main()
