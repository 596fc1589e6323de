#!/usr/bin/env python3
"""Times `haarface replay` end to end (parse + schedule + CSV out) on 200,000-step logs.

Two logs: a CSV with one row per step (200,000 rows) and an arcface_torch training.log logging every
10 steps (20,000 lines). Each run's output is checked (header, at least one MHLR decision) before it is
timed; the median of 7 runs is reported. Target (issue #2): under 0.5 s.
Usage: python3 scripts/bench/replay_bench.py [path/to/haarface]   (default .build/release/haarface)
"""
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/haarface"
steps = 200_000
rng = random.Random(7)


def loss_at(step):
    # Falls for 40k steps, then plateaus; noise on top.
    return 2.0 + 30.0 * math.exp(-step / 8000.0) + rng.gauss(0.0, 0.3)


with tempfile.TemporaryDirectory() as folder:
    csv_path = os.path.join(folder, "run.csv")
    with open(csv_path, "w") as out:
        out.write("step,loss\n")
        for step in range(1, steps + 1):
            out.write(f"{step},{loss_at(step):.5f}\n")
    log_path = os.path.join(folder, "training.log")
    with open(log_path, "w") as out:
        for step in range(20, steps + 1, 10):
            out.write(f"Training: 2024-03-01 10:00:00,000-Speed 1000.00 samples/sec   Loss {loss_at(step):.4f}   "
                      f"LearningRate 0.100000   Epoch: {step // 10000}   Global Step: {step}   Required: 1 hours\n")

    results = {}
    for name, path in [("csv_200k_rows", csv_path), ("arcface_log_20k_lines", log_path)]:
        command = [binary, "replay", path, "--scheduler", "mhlr", "--window", "4000"]
        check = subprocess.run(command, capture_output=True, text=True, check=True)
        lines = check.stdout.splitlines()
        assert lines[0] == "step,lr,event" and len(lines) > 1, check.stdout[:200]
        times = []
        for _ in range(7):
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - start)
        results[name] = {"median_seconds": round(statistics.median(times), 4), "min_seconds": round(min(times), 4),
                         "events": len(lines) - 1}
    print(json.dumps({"steps": steps, "results": results}, indent=2))
