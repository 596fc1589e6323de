#!/usr/bin/python3
"""HaarFace vs PyTorch, same model, batch, input size and head, run alternately on this machine.

For each case it runs `haarface bench train|embed ...` and scripts/bench/torch_train_bench.py
(PyTorch with 2 threads, best of NCHW and channels_last) one after the other, --rounds times, and
prints the ratio of median images/s and of peak RSS. HaarFace gets OMP_NUM_THREADS=2 (same cores).

  make release    # builds .build/release/haarface
  /usr/bin/python3 scripts/bench/compare_train.py [--cases r18-train,r50-train,mbf-train,r18-embed]

Targets (issue 3): training >= 1.3x PyTorch for r18@112 b32, r50@112 b32, mbf@112 b64;
inference >= 1.5x for r18@112 b64; peak memory not above PyTorch's.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

CASES = {
    "r18-train": ("train", "r18", 32, 112),
    "r50-train": ("train", "r50", 32, 112),
    "mbf-train": ("train", "mbf", 64, 112),
    "r18-embed": ("embed", "r18", 64, 112),
}
TARGETS = {"train": 1.3, "embed": 1.5}
# PyTorch 2.15's best settings on this machine (../shared/reference/performance.md), r18@112 b32 training,
# measured on an idle machine, next to PyTorch 1.13's eager fp32 best there (channels_last 7.88).
TORCH_215_R18 = {"torch.compile fp32": 9.85, "bf16 autocast": 15.7, "torch.compile + bf16": 17.2}
TORCH_113_EAGER_R18_IDLE = 7.88


def run_json(command, env=None):
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--haarface", default=os.path.join(ROOT, ".build/release/haarface"))
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: HaarFace's bf16 trunk against PyTorch's bf16 autocast")
    parser.add_argument("--conv-algorithm", choices=["winograd", "direct"], default="winograd",
                        help="HaarFace's float32 3x3 stride-1 convolutions (direct: as PyTorch computes them)")
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="2")
    env.pop("OMP_PROC_BIND", None)
    rows, raw = [], []
    for name in args.cases.split(","):
        mode, model, batch, size = CASES[name]
        common = ["--model", model, "--batch-size", str(batch), "--image-size", str(size),
                  "--steps", str(args.steps), "--warmup", str(args.warmup), "--precision", args.precision]
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(run_json([args.haarface, "bench", mode] + common + ["--conv-algorithm", args.conv_algorithm], env))
            print(f"  {name} haarface: {ours[-1]['images_per_second']:.2f} images/s", file=sys.stderr)
            theirs.append(run_json([sys.executable, os.path.join(HERE, "torch_train_bench.py"), mode] + common))
            print(f"  {name} torch ({theirs[-1]['layout']}): {theirs[-1]['images_per_second']:.2f} images/s", file=sys.stderr)
        raw.append({"case": name, "haarface": ours, "torch": theirs})
        speed_ours = statistics.median(r["images_per_second"] for r in ours)
        speed_theirs = statistics.median(r["images_per_second"] for r in theirs)
        rss_ours = max(r["peak_rss_bytes"] for r in ours)
        rss_theirs = max(r["peak_rss_bytes"] for r in theirs)
        gflops = statistics.median(r["gflops_per_second"] for r in ours)
        rows.append((name, speed_ours, speed_theirs, speed_ours / speed_theirs, TARGETS[mode], gflops,
                     rss_ours / 2**20, rss_theirs / 2**20))
    print(f"{'case':10} {'haarface img/s':>15} {'torch img/s':>12} {'ratio':>6} {'target':>6} "
          f"{'GFLOP/s':>8} {'RSS MiB':>8} {'torch RSS':>9}")
    for name, ours, theirs, ratio, target, gflops, rss_ours, rss_theirs in rows:
        print(f"{name:10} {ours:15.2f} {theirs:12.2f} {ratio:6.2f} {target:6.1f} {gflops:8.1f} "
              f"{rss_ours:8.0f} {rss_theirs:9.0f}")
        if name == "r18-train" and args.precision == "fp32":
            # Absolute speeds drift with machine load; scale our ratio to eager PyTorch measured now by the
            # idle-machine figures of performance.md.
            for label, speed in TORCH_215_R18.items():
                print(f"           vs PyTorch 2.15 {label} ({speed} img/s idle): "
                      f"{ratio * TORCH_113_EAGER_R18_IDLE / speed:.2f}x (estimated: ratio x {TORCH_113_EAGER_R18_IDLE} / {speed})")
        if name == "r18-train":
            ceiling = 230 if args.precision == "fp32" else 460   # bf16 dot products double the rate
            # GFLOP/s counts a direct convolution's multiply-adds; Winograd does fewer, so this is an
            # effective rate and may exceed the ceiling.
            print(f"           effective rate {gflops:.0f} GFLOP/s = {gflops / ceiling:.0%} of the {ceiling} GFLOP/s "
                  f"{args.precision} ceiling" + (f" (conv algorithm: {args.conv_algorithm})" if args.precision == "fp32" else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
