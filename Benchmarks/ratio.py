#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Swift / C cost ratio of the full-duplex 20 ms frame, measured two ways in the same run.

1. Instructions per frame under callgrind (deterministic on any machine): FrameCost runs 0 and
   FRAMES frames through each pipeline; (I(FRAMES) - I(0)) / FRAMES drops the setup cost. Both
   pipelines must also produce the same bytes (same checksum).
2. Wall clock per frame from the ordo-one benchmark tables ("Full-duplex frame (Swift)" and
   "(C reference)"), RUNS times; the median of the per-run p50 ratios. Noisy on shared machines.

Usage (from the repository root: make bench-ratio): Benchmarks/ratio.py [RUNS] [FRAMES]
"""
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
FRAMES = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
HERE = Path(__file__).resolve().parent
NAMES = ("Full-duplex frame (Swift)", "Full-duplex frame (C reference)", "Session full-duplex frame (Swift)")


def instructions_per_frame():
    subprocess.run(["swift", "build", "-c", "release", "--product", "FrameCost"], cwd=HERE, check=True,
                   capture_output=True)
    binary = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=HERE, check=True,
                            capture_output=True, text=True).stdout.strip() + "/FrameCost"
    with tempfile.TemporaryDirectory() as tmp:
        # valgrind 3.19 cannot read the debug info Swift emits: count on a stripped copy.
        stripped = Path(tmp) / "FrameCost"
        subprocess.run(["strip", "-o", str(stripped), binary], check=True)
        result = {}
        for pipeline in ("swift", "session", "session-caller", "session-agent", "c"):
            counts, checksum = [], None
            for frames in (0, FRAMES):
                run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                                      str(stripped), pipeline, str(frames)],
                                     check=True, capture_output=True, text=True)
                counts.append(int(re.search(r"Collected : (\d+)", run.stderr).group(1)))
                checksum = run.stdout.split()[-1]
            result[pipeline] = ((counts[1] - counts[0]) / FRAMES, checksum)
    return result


def wall_clock_once():
    out = subprocess.run(
        ["swift", "package", "--allow-writing-to-package-directory", "benchmark",
         "--filter", ".*ull-duplex frame.*", "--no-progress"],
        cwd=HERE, check=True, capture_output=True, text=True).stdout
    figures, current = {}, None
    for line in out.splitlines():
        if line.strip() in NAMES:
            current = line.strip()
        elif current and line.startswith("│ Time (wall clock)"):
            cells = [c.strip() for c in line.split("│")[2:-1]]
            figures[current] = {"p0": int(cells[0]), "p50": int(cells[2])}
            current = None
    if set(figures) != set(NAMES):
        sys.exit("ratio.py: could not read both benchmarks from the output:\n" + out)
    return figures


if shutil.which("valgrind"):
    cost = instructions_per_frame()
    if cost["swift"][1] != cost["c"][1]:
        sys.exit(f"ratio.py: the pipelines' outputs differ (checksums {cost['swift'][1]} vs {cost['c'][1]})")
    print(f"instructions per frame (callgrind, {FRAMES} frames): Swift {cost['swift'][0]:.0f}, "
          f"C {cost['c'][0]:.0f}; Swift/C {cost['swift'][0] / cost['c'][0]:.4f} (identical output)")
    for mode, case in (("session", "a quiet caller, the agent echoing it"), ("session-caller", "a caller talking, the agent silent"),
                       ("session-agent", "the agent talking, a quiet caller")):
        print(f"instructions per frame, whole session (detector, markers, events), {case}: {cost[mode][0]:.0f}; "
              f"session/C {cost[mode][0] / cost['c'][0]:.4f}")
else:
    print("valgrind not installed: instruction ratio skipped (apt-get install valgrind)")

ratios, session_ratios = [], []
for run in range(1, RUNS + 1):
    f = wall_clock_once()
    swift, c, session = f[NAMES[0]], f[NAMES[1]], f[NAMES[2]]
    ratios.append(swift["p50"] / c["p50"])
    session_ratios.append(session["p50"] / c["p50"])
    print(f"wall clock run {run}: Swift p50 {swift['p50']} ns, session p50 {session['p50']} ns, C p50 {c['p50']} ns "
          f"per frame; Swift/C {ratios[-1]:.3f}, session/C {session_ratios[-1]:.3f}")
print(f"wall clock: median of {RUNS} p50 ratios Swift/C {statistics.median(ratios):.3f}, "
      f"session/C {statistics.median(session_ratios):.3f}")
