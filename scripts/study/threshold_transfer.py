#!/usr/bin/env python3
"""Can one relative threshold reproduce MHLR's published (absolute, 0.06) decisions? (issue #10, part 1)

Replays, with `haarface replay --sweep`, the bundled arcface_torch-style log and every MHLR run of a finished
default study (`haarface compare --output STUDY`), each with its own window, once with the published
`threshold_mode abs, threshold 0.06` and once per relative threshold of a grid; prints, as Markdown, the
decisions and the first decision's step of each, the relative value that comes closest on each log, and the
one value that comes closest over all of them (error = |decisions - abs decisions| / abs decisions +
|first step - abs first step| / abs first step, summed over the logs).
Usage: python3 scripts/study/threshold_transfer.py HAARFACE STUDY_DIR
"""
import json
import os
import subprocess
import sys

binary, study = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
grid = ["0.001", "0.0015", "0.002", "0.0025", "0.003", "0.004", "0.005", "0.006", "0.008", "0.01"]

logs = [("examples/arcface_multistep.log (arcface_torch r100-style, 24k steps)",
         os.path.join(here, "..", "..", "examples", "arcface_multistep.log"), [])]
for arm, flags in [("mhlr-5", []), ("mhlr-5-w5", ["--window", "5"]), ("mhlr-5-w16", ["--window", "16"])]:
    for seed in (1, 2, 3):
        path = os.path.join(study, arm, f"seed-{seed}", "metrics.csv")
        if os.path.exists(path):
            logs.append((f"study {arm} seed {seed}", path, flags))


def sweep(path, flags, mode, values):
    out = subprocess.run([binary, "replay", path, *flags, "--threshold-mode", mode, "--sweep", "threshold=" + ",".join(values),
                          "--format", "json"], capture_output=True, text=True, check=True).stdout
    return [(row["parameters"]["threshold"], row["decisions"], row["first_decision_step"]) for row in json.loads(out)["rows"]]


def error(rel, reference):
    _, decisions, first = rel
    _, ref_decisions, ref_first = reference
    if ref_decisions == 0:
        return float(decisions)
    if first is None:
        return 2.0
    return abs(decisions - ref_decisions) / ref_decisions + abs(first - ref_first) / ref_first


totals = {value: 0.0 for value in grid}
print("| log | abs 0.06: decisions, first step | closest rel (decisions, first step) |")
print("|---|---|---|")
per_log = []
for name, path, flags in logs:
    reference = sweep(path, flags, "abs", ["0.06"])[0]
    rows = sweep(path, flags, "rel", grid)
    for row in rows:
        totals[row[0]] += error(row, reference)
    best = min(rows, key=lambda row: error(row, reference))
    per_log.append((name, reference, rows))
    print(f"| {name} | {reference[1]}, {reference[2]} | rel {best[0]}: {best[1]}, {best[2]} |")
best_value = min(grid, key=lambda value: totals[value])
print()
print(f"One value for all: rel {best_value} (summed error {totals[best_value]:.2f} over {len(logs)} logs; "
      + ", ".join(f"{value}: {totals[value]:.2f}" for value in grid) + ").")
print()
print(f"| log | rel {best_value}: decisions, first step | abs 0.06 |")
print("|---|---|---|")
for name, reference, rows in per_log:
    row = next(row for row in rows if row[0] == best_value)
    print(f"| {name} | {row[1]}, {row[2]} | {reference[1]}, {reference[2]} |")
