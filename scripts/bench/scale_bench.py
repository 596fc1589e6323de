#!/usr/bin/python3
"""The paper's largest data set, in shape (issue #14, part 3), on the release binary:

1. A RecordIO set with WebFace12M's 617,970 identities and 4 small images each (2,471,880 records), written by
   `haarface synth --format rec` (kept in --work; not committed), and a small one of 2,000 identities beside it.
2. Opening it: `haarface data inspect` (index, every record's label, the identity table): wall seconds and peak
   RSS, against the small set's, giving bytes per record.
3. Streaming it: `haarface bench-data` on both sets (same batches, workers, size): images/s and peak RSS, the
   peak against the open's (the loader holds its prefetch window, not the epoch).
4. Training with the head at 617,970 classes (embedding 512, Partial FC 0.1, r18 at the set's 16 px, batch 64):
   `haarface train` with a checkpoint every 10 steps, killed after the checkpoint at step 20, resumed and killed
   after the one at step 30: peak RSS, median seconds per step, the head's share of it (against the same run on
   the small set, whose head is 0.3% of the size), the checkpoint's size and write time, and that the resumed
   run continued from step 21.

Prints one line per figure and a JSON summary at the end. Minutes to tens of minutes on 2 cores (synth first).
Usage: python3 scripts/bench/scale_bench.py [--work DIR] [--binary .build/release/haarface]
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def run_measured(command, env=None):
    """Runs `command`, returning (wall seconds, peak RSS bytes from the kernel's accounting, stdout)."""
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        if status != 0:
            sys.exit("failed (%d): %s\n%s" % (status, " ".join(command), err.read()[-2000:]))
        return seconds, usage.ru_maxrss * 1024, out.read()


def peak_rss(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def synth(binary, folder, identities):
    if os.path.exists(os.path.join(folder, "train.rec")):
        print("data: %s exists, kept" % folder)
        return None
    seconds, _, _ = run_measured([binary, "synth", "--identities", str(identities), "--images-per-identity", "4",
                                  "--image-size", "16", "--format", "rec", "--pairs", "0", "--output", folder])
    print("data: %d identities x 4 images written in %.0f s" % (identities, seconds))
    return seconds


def inspect(binary, folder):
    seconds, peak, out = run_measured([binary, "data", "inspect", os.path.join(folder, "train.rec")])
    return {"seconds": seconds, "peak_rss": peak, "report": json.loads(out)}


def stream(binary, folder, batches):
    env = dict(os.environ, OMP_NUM_THREADS="2")
    seconds, peak, out = run_measured([binary, "bench-data", "--images", folder, "--size", "16", "--workers", "2",
                                       "--batch-size", "128", "--epochs", "1", "--batches", str(batches)], env)
    return {"seconds": seconds, "peak_rss": peak, "report": json.loads(out)}


def train_until(binary, folder, output, checkpoint_step, resume):
    """Trains until the checkpoint of `checkpoint_step` is written, then SIGKILLs: (peak RSS, seconds)."""
    command = [binary, "train", "--rec", os.path.join(folder, "train.rec"), "--output", output, "--network", "r18",
               "--image-size", "16", "--embedding-size", "512", "--sample-rate", "0.1", "--batch-size", "64",
               "--num-epoch", "1", "--checkpoint-every", "10", "--frequent", "5",
               "--no-tensorboard", "--num-workers", "2"]
    if resume:
        command.append("--resume")
    state = os.path.join(output, "checkpoint", "trainer.json")
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, OMP_NUM_THREADS="2"))
    peak = 0
    while process.poll() is None:
        peak = max(peak, peak_rss(process.pid))
        try:
            with open(state) as handle:
                if json.load(handle).get("globalStep") == checkpoint_step:
                    break
        except (FileNotFoundError, json.JSONDecodeError, ValueError):
            pass
        time.sleep(0.2)
    if process.poll() is not None:
        sys.exit("train ended before step %d: %s" % (checkpoint_step, process.stderr.read()[-2000:]))
    process.send_signal(signal.SIGKILL)
    process.wait()
    return peak, time.monotonic() - start


def step_seconds(output, first_step):
    """Median seconds per step from metrics.csv (images/s at batch 64), from `first_step` on."""
    with open(os.path.join(output, "metrics.csv")) as handle:
        rows = [line.strip().split(",") for line in handle.readlines()[1:] if line.strip()]
    steps = [(int(row[0]), float(row[4])) for row in rows]
    return statistics.median(64 / speed for step, speed in steps if step >= first_step), [s for s, _ in steps]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="/tmp/haarface-scale")
    parser.add_argument("--binary", default=".build/release/haarface")
    parser.add_argument("--identities", type=int, default=617970)
    parser.add_argument("--batches", type=int, default=2000, help="bench-data batches of 128 per set")
    parser.add_argument("--skip-train", action="store_true", help="parts 1-3 only")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    large, small = os.path.join(args.work, "webface-shape"), os.path.join(args.work, "small")
    result = {"identities": args.identities}
    result["synth_seconds"] = synth(args.binary, large, args.identities)
    synth(args.binary, small, 2000)

    opened = {"large": inspect(args.binary, large), "small": inspect(args.binary, small)}
    records = opened["large"]["report"]["images"], opened["small"]["report"]["images"]
    per_record = (opened["large"]["peak_rss"] - opened["small"]["peak_rss"]) / (records[0] - records[1])
    for name, measured in opened.items():
        print("open %s: %d images, %d identities, %.2f s, peak RSS %.0f MiB" % (
            name, measured["report"]["images"], measured["report"]["identities"], measured["seconds"],
            measured["peak_rss"] / 2**20))
    print("open: %.1f bytes of peak RSS per record" % per_record)
    result["open"] = {name: {"seconds": m["seconds"], "peak_rss": m["peak_rss"], "images": m["report"]["images"],
                             "identities": m["report"]["identities"]} for name, m in opened.items()}
    result["open_bytes_per_record"] = per_record

    streamed = {"large": stream(args.binary, large, args.batches), "small": stream(args.binary, small, args.batches)}
    for name, measured in streamed.items():
        print("stream %s: %.0f images/s, peak RSS %.0f MiB (open alone: %.0f MiB)" % (
            name, measured["report"]["images_per_second"], measured["peak_rss"] / 2**20,
            opened[name]["peak_rss"] / 2**20))
    result["stream"] = {name: {"images_per_second": m["report"]["images_per_second"], "peak_rss": m["peak_rss"]}
                        for name, m in streamed.items()}

    if args.skip_train:
        print(json.dumps(result, indent=1, sort_keys=True))
        return
    runs = {}
    for name, folder in (("large", large), ("small", small)):
        output = os.path.join(args.work, "train-" + name)
        subprocess.run(["rm", "-rf", output], check=True)
        peak, seconds = train_until(args.binary, folder, output, 20, resume=False)
        checkpoint = os.path.join(output, "checkpoint")
        size = sum(os.path.getsize(os.path.join(checkpoint, f)) for f in os.listdir(checkpoint))
        runs[name] = {"peak_rss": peak, "seconds_to_step_20": seconds, "checkpoint_bytes": size}
        if name == "large":
            resumed_peak, resumed_seconds = train_until(args.binary, folder, output, 30, resume=True)
            runs[name]["resumed_peak_rss"] = resumed_peak
        median, steps = step_seconds(output, 3)
        runs[name]["seconds_per_step"] = median
        runs[name]["steps_logged"] = steps
    head_share = 1 - runs["small"]["seconds_per_step"] / runs["large"]["seconds_per_step"]
    large_steps = runs["large"]["steps_logged"]
    continued = large_steps == sorted(set(large_steps)) and 21 in large_steps and max(large_steps) >= 30
    for name, measured in runs.items():
        print("train %s: %.3f s per step, peak RSS %.2f GiB, checkpoint %.2f GiB" % (
            name, measured["seconds_per_step"], measured["peak_rss"] / 2**30, measured["checkpoint_bytes"] / 2**30))
    print("train: the head at %d classes is %.0f%% of the step; resumed from step 20 to 30: %s (peak RSS %.2f GiB)" % (
        args.identities, 100 * head_share, "continued" if continued else "NOT CONTINUED",
        runs["large"]["resumed_peak_rss"] / 2**30))
    for measured in runs.values():
        del measured["steps_logged"]
    result["train"] = runs
    result["head_share_of_step"] = head_share
    result["resume_continued"] = continued
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
