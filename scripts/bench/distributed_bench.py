#!/usr/bin/env python3
"""Training across ranks on Open MPI, on this machine (a benchmark, not a test).

1. The trainer: `mpirun -np 2 haarface train` with one oneDNN thread per rank against one process with two
   threads, at the same global batch (IResNet-18 at 112 px, embedding 512, a synthetic RecordIO set),
   alternating in one run, median step images/s per run, medians over rounds; the ratio, and the share of
   the 2-rank step time spent averaging the backbone's gradients (summary.json's gradientExchangeSeconds over
   trainingSeconds).
2. The head at WebFace12M's class count (617,970, embedding 512, Partial FC 0.1): `collective-check
   head-bench` on 1 and 2 ranks at the same global batch: median seconds per head step (loss, backward and
   SGD on the rank's centres) and each rank's peak resident memory.
3. With --accuracy-seeds 1,2,3 (instead of 1 and 2): the embedded default (`make run`'s run, global batch 64)
   on one process and on 2 ranks x 32 for each seed; the held-out accuracy of each, the mean and spread per
   side and the mean difference (the timing of these runs does not matter, so they may share the machine).
   With --sync-batch-norm also 2 ranks x 32 with synchronised batch norm (`--sync-batch-norm`: statistics over
   the global batch of 64, as the one process has them); without --accuracy-seeds, the flag adds that arm to
   the trainer's rounds (1.), with its speed against per-rank batch norm's.

    python3 scripts/bench/distributed_bench.py [--rounds 3] [--steps 12] [--global-batch 64]
    python3 scripts/bench/distributed_bench.py --accuracy-seeds 1,2,3 [--sync-batch-norm]
"""
import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]


def run(command, env=None):
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit("failed (%d): %s" % (done.returncode, " ".join(command)))
    return done.stdout


def make_data(haarface, images, folder):
    identities = images // 10
    path = os.path.join(folder, "synth-112-%dx10" % identities)
    if not os.path.exists(os.path.join(path, "train.idx")):
        run([haarface, "synth", "--identities", str(identities), "--images-per-identity", "10", "--image-size", "112",
             "--pairs", "0", "--seed", "1", "--format", "rec", "--output", path])
    return path


def train(args, data, work, ranks, synchronised=False):
    output = tempfile.mkdtemp(prefix="haarface-mpi-%d-" % ranks, dir=work)
    command = [args.haarface, "train", "--rec", data, "--network", "r18", "--image-size", "112", "--embedding-size", "512",
               "--global-batch-size", str(args.global_batch), "--num-epoch", "1", "--num-workers", "1",
               "--frequent", "1000", "--verbose", "1000000", "--checkpoint-every", "0", "--no-tensorboard",
               "--output", output] + (["--sync-batch-norm"] if synchronised else [])
    env = dict(os.environ, OMP_NUM_THREADS=str(2 // ranks))
    env.pop("OMP_PROC_BIND", None)
    if ranks > 1:
        # Each rank bound to its own core (mpirun's default for 2 ranks); OMP_NUM_THREADS passed to every rank.
        command = MPIRUN + ["-np", str(ranks), "-x", "OMP_NUM_THREADS"] + command
    run(command, env)
    with open(os.path.join(output, "metrics.csv")) as f:
        speeds = [float(row["images_per_second"]) for row in csv.DictReader(f)]
    with open(os.path.join(output, "summary.json")) as f:
        summary = json.load(f)
    shutil.rmtree(output)
    exchange = summary.get("gradientExchangeSeconds") or 0
    return {"images_per_second": statistics.median(speeds[args.warmup:]), "steps": len(speeds),
            "exchange_share": exchange / summary["trainingSeconds"], "final_loss": summary["finalLoss"]}


def head(args, ranks):
    command = [args.check, "head-bench", "617970", "0.1", str(args.global_batch), str(args.head_steps)]
    env = dict(os.environ, OMP_NUM_THREADS=str(2 // ranks))
    if ranks > 1:
        command = MPIRUN + ["-np", str(ranks), "-x", "OMP_NUM_THREADS"] + command
    return json.loads(run(command, env).strip().splitlines()[-1])


def embedded_default_accuracy(args, work, ranks, seed, synchronised=False):
    output = tempfile.mkdtemp(prefix="haarface-mpi-default-%d-%d-" % (ranks, seed), dir=work)
    command = [args.haarface, "train", "--output", output, "--global-batch-size", "64", "--seed", str(seed),
               "--no-tensorboard"] + (["--sync-batch-norm"] if synchronised else [])
    env = dict(os.environ, OMP_NUM_THREADS=str(2 // ranks))
    if ranks > 1:
        command = MPIRUN + ["--bind-to", "none", "-np", str(ranks), "-x", "OMP_NUM_THREADS"] + command
    run(command, env)
    with open(os.path.join(output, "summary.json")) as f:
        summary = json.load(f)
    shutil.rmtree(output)
    return summary["verifications"][-1]["accuracy"]


def accuracy(args, work):
    seeds = [int(seed) for seed in args.accuracy_seeds.split(",")]
    arms = [("ranks_1", 1, False), ("ranks_2", 2, False)] + ([("ranks_2_sync_bn", 2, True)] if args.sync_batch_norm else [])
    if args.arms:
        arms = [arm for arm in arms if arm[0] in args.arms.split(",")]
    table = {name: [] for name, _, _ in arms}
    for seed in seeds:
        for name, ranks, synchronised in arms:
            table[name].append(embedded_default_accuracy(args, work, ranks, seed, synchronised))
            print("seed %d, %s: %.2f%%" % (seed, name, 100 * table[name][-1]), flush=True)
    summary = {"seeds": seeds}
    for name, accuracies in table.items():
        summary[name] = {"accuracies": accuracies, "mean": statistics.mean(accuracies),
                         "stdev": statistics.stdev(accuracies) if len(accuracies) > 1 else 0}
    if "ranks_1" in summary and "ranks_2" in summary:
        summary["mean_difference_two_minus_one"] = summary["ranks_2"]["mean"] - summary["ranks_1"]["mean"]
    if "ranks_1" in summary and "ranks_2_sync_bn" in summary:
        summary["mean_difference_two_sync_minus_one"] = summary["ranks_2_sync_bn"]["mean"] - summary["ranks_1"]["mean"]
    return summary


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--haarface", default=os.path.join(ROOT, ".build/release/haarface"))
    parser.add_argument("--check", default=os.path.join(ROOT, ".build/release/collective-check"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12, help="training steps per run (one epoch)")
    parser.add_argument("--warmup", type=int, default=2, help="first steps of each run left out of its median")
    parser.add_argument("--global-batch", type=int, default=64)
    parser.add_argument("--head-steps", type=int, default=6)
    parser.add_argument("--skip-trainer", action="store_true")
    parser.add_argument("--skip-head", action="store_true")
    parser.add_argument("--accuracy-seeds", help="comma-separated seeds: measure the accuracy of 1 vs 2 ranks instead")
    parser.add_argument("--arms", help="with --accuracy-seeds: only these of ranks_1, ranks_2, ranks_2_sync_bn")
    parser.add_argument("--sync-batch-norm", action="store_true",
                        help="also 2 ranks with synchronised batch norm (the trainer's speed, or with --accuracy-seeds its accuracy)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="haarface-mpi-bench-")
    result = {"lscpu": subprocess.run(["lscpu"], capture_output=True, text=True).stdout.split("Model name:")[1].split("\n")[0].strip()}
    try:
        if args.accuracy_seeds:
            result["accuracy"] = accuracy(args, work)
            args.skip_trainer = args.skip_head = True
        if not args.skip_trainer:
            data = make_data(args.haarface, args.global_batch * args.steps, work)
            rounds = []
            arms = [1, 2] + (["2sync"] if args.sync_batch_norm else [])
            for round_index in range(args.rounds):
                order = arms if round_index % 2 == 0 else arms[::-1]
                measured = {arm: train(args, data, work, 2 if arm == "2sync" else arm, arm == "2sync") for arm in order}
                rounds.append(measured)
                print("round %d: 1 rank x 2 threads %.2f images/s, 2 ranks x 1 thread %.2f images/s (exchange %.1f%% of step time)"
                      % (round_index + 1, measured[1]["images_per_second"], measured[2]["images_per_second"],
                         100 * measured[2]["exchange_share"])
                      + (", with synchronised batch norm %.2f images/s" % measured["2sync"]["images_per_second"]
                         if args.sync_batch_norm else ""), flush=True)
            one = statistics.median(r[1]["images_per_second"] for r in rounds)
            two = statistics.median(r[2]["images_per_second"] for r in rounds)
            result["trainer"] = {"rounds": [{str(k): v for k, v in r.items()} for r in rounds],
                                 "one_rank_two_threads": one, "two_ranks_one_thread": two, "ratio": two / one,
                                 "exchange_share": statistics.median(r[2]["exchange_share"] for r in rounds)}
            if args.sync_batch_norm:
                result["trainer"]["sync_over_per_rank_batch_norm"] = statistics.median(
                    r["2sync"]["images_per_second"] / r[2]["images_per_second"] for r in rounds)
        if not args.skip_head:
            result["head"] = {"one_rank": head(args, 1), "two_ranks": head(args, 2)}
            for name, measured in result["head"].items():
                print("head, %s: %.3f s per step, peak RSS %s GiB" % (
                    name, measured["median_step_seconds"],
                    ", ".join("%.2f" % measured[k] for k in sorted(measured) if k.startswith("peak_rss"))), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
