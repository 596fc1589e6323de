#!/usr/bin/env python3
"""Do epoch boundaries disturb MHLR's detector? (issue #10, part 3) Measured on a finished study's recorded runs.

For every run of the study's MHLR arms, from its own files (metrics.csv: per-step loss and epoch;
checkpoint/trainer.json: the trainer's per-step trace of the detector's smoothed loss and Haar response):
  (a) the loss's drop across each epoch boundary, mean of the K steps before minus mean of the K steps after,
      against the same statistic across the middle of each epoch (K = 8 steps);
  (b) how often the Haar response is at or above the threshold (which resets MHLR's plateau count) in the 2m
      steps after a boundary, against all other steps, both counted only after the run's first decision
      (where a plateau is being watched) and leaving out the 2m steps after every LR change (a decay makes
      the loss fall, which is the response's job to see, not a boundary's doing).
Prints Markdown. Usage: python3 scripts/study/epoch_boundaries.py STUDY_DIR [ARM ...]
"""
import csv
import json
import os
import statistics
import sys

study = sys.argv[1]
arms = sys.argv[2:] or ["mhlr-5", "mhlr-5-w5", "mhlr-5-w16"]
K = 8


def load(run):
    with open(os.path.join(run, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    loss = [float(r["loss"]) for r in rows]
    epoch = [int(r["epoch"]) for r in rows]
    with open(os.path.join(run, "checkpoint", "trainer.json")) as f:
        state = json.load(f)
    scheduler = state["config"]["scheduler"]
    # trace point p: the state after the loss of step p["step"] - 1 was fed
    response = {p["step"] - 1: p.get("response") for p in state["trace"]["points"]}
    lr = {p["step"] - 1: p["learningRate"] for p in state["trace"]["points"]}
    return loss, epoch, scheduler, response, lr


print("| arm | seed | window m | boundary drop (loss) | mid-epoch drop | ratio | P(H >= threshold) in 2m steps after a boundary | elsewhere |")
print("|---|---|---|---|---|---|---|---|")
all_ratio, all_after, all_else = [], [], []
for arm in arms:
    for seed in (1, 2, 3):
        run = os.path.join(study, arm, f"seed-{seed}")
        if not os.path.exists(os.path.join(run, "metrics.csv")):
            continue
        loss, epoch, scheduler, response, lr = load(run)
        steps = len(loss)
        per_epoch = epoch.index(1)
        window = scheduler.get("window") or max(2, int(scheduler.get("window_fraction", 0.015) * steps))
        threshold = scheduler.get("threshold", 0.06)
        boundaries = [s for s in range(1, steps) if epoch[s] != epoch[s - 1]]   # 0-based index of a new epoch's first step
        middles = [b - per_epoch // 2 for b in boundaries]

        def drop(i):
            return statistics.mean(loss[i - K:i]) - statistics.mean(loss[i:i + K])

        boundary_drop = statistics.mean(drop(b) for b in boundaries if b + K <= steps)
        middle_drop = statistics.mean(drop(m) for m in middles if m >= K)
        first_decision = next((s for s in sorted(lr) if lr[s] != lr[min(lr)]), steps)
        after, settling = set(), set()
        for b in boundaries:
            after.update(range(b, min(steps, b + 2 * window)))
        changes = [s for s in sorted(lr) if s > min(lr) and lr[s] != lr[s - 1]]
        for c in changes:
            settling.update(range(c, min(steps, c + 2 * window)))
        watched = [s for s in range(first_decision, steps) if response.get(s) is not None and s not in settling]
        def rate(indices):
            indices = list(indices)
            return sum(response[s] >= threshold for s in indices) / len(indices) if indices else float("nan")
        after_rate = rate(s for s in watched if s in after)
        else_rate = rate(s for s in watched if s not in after)
        ratio = boundary_drop / middle_drop if middle_drop else float("nan")
        all_ratio.append(ratio)
        all_after.append(after_rate)
        all_else.append(else_rate)
        shown = lambda value: "-" if value != value else f"{value:.2f}"   # no watched step in that set
        print(f"| {arm} | {seed} | {window} | {boundary_drop:.3f} | {middle_drop:.3f} | {ratio:.2f} | {shown(after_rate)} | {shown(else_rate)} |")
clean = lambda values: [v for v in values if v == v]
print()
print(f"Means over {len(all_ratio)} runs: boundary/mid-epoch drop ratio {statistics.mean(clean(all_ratio)):.2f}; "
      f"P(response >= threshold) {statistics.mean(clean(all_after)):.2f} after a boundary vs "
      f"{statistics.mean(clean(all_else)):.2f} elsewhere.")
