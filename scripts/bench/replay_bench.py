#!/usr/bin/env python3
"""Times `haarface replay` end to end (parse + schedule + CSV out) on 200,000-step logs.

Two logs: a CSV with one row per step (200,000 rows) and an arcface_torch training.log logging every
10 steps (20,000 lines). Each run's output is checked (header, at least one MHLR decision) before it is
timed; the median of 7 runs is reported. Target (issue #2): under 0.5 s.
Then a 12-combination `--sweep` (threshold x window-fraction) of each log, every row checked against the
single replay with its parameters before timing. Target (issue #10): under 2 s.
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

    def timed(command):
        times = []
        for _ in range(7):
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - start)
        return {"median_seconds": round(statistics.median(times), 4), "min_seconds": round(min(times), 4)}

    thresholds, fractions = ["0.02", "0.04", "0.06", "0.08"], ["0.01", "0.015", "0.02"]
    results = {}
    for name, path in [("csv_200k_rows", csv_path), ("arcface_log_20k_lines", log_path)]:
        command = [binary, "replay", path, "--scheduler", "mhlr", "--window", "4000"]
        check = subprocess.run(command, capture_output=True, text=True, check=True)
        lines = check.stdout.splitlines()
        assert lines[0] == "step,lr,event" and len(lines) > 1, check.stdout[:200]
        results[name] = {**timed(command), "events": len(lines) - 1}

        sweep = [binary, "replay", path, "--sweep", "threshold=" + ",".join(thresholds),
                 "--sweep", "window-fraction=" + ",".join(fractions)]
        rows = subprocess.run(sweep, capture_output=True, text=True, check=True).stdout.splitlines()[1:]
        assert len(rows) == 12, rows
        for row in rows:
            threshold, fraction, decisions, first, final_lr, _ = row.split(",")
            single = json.loads(subprocess.run(
                [binary, "replay", path, "--threshold", threshold, "--window-fraction", fraction, "--format", "json"],
                capture_output=True, text=True, check=True).stdout)
            assert int(decisions) == len(single["events"]) and float(final_lr) == single["final_lr"], (row, single)
        results[name + "_sweep_12"] = timed(sweep)
    print(json.dumps({"steps": steps, "cpus": os.cpu_count(), "results": results}, indent=2))
