#!/usr/bin/python3
"""PyTorch half of HaarFace's speed comparison (Debian python3-torch 1.13 under /usr/bin/python3,
or any torch >= 1.13).

Training: backbone (scripts/reference/models.py) -> ArcFace-style normalised linear head
(1000 classes, s = 64, no margin) -> cross entropy; SGD momentum 0.9, weight decay 5e-4, two
parameter groups (backbone, head). Inference ("embed"): the backbone alone in eval mode, no grad.
Random images and labels; `--threads` (default 2) torch threads.

Each layout (NCHW, channels_last) runs in its own process so that peak RSS is per layout;
with --layout best (default) the faster one is reported. Prints one JSON object:
images_per_second (median over the timed steps, after warm-up), gflops_per_second (from the
forward multiply-adds of convolutions and linear layers: 2 FLOP per MAC, x3 for training),
peak_rss_bytes, step_seconds, layout, and every layout's figures under "layouts".

  /usr/bin/python3 scripts/bench/torch_train_bench.py train --model r18 --batch-size 32 --image-size 112
  /usr/bin/python3 scripts/bench/torch_train_bench.py embed --model r18 --batch-size 64 --image-size 112
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import models  # noqa: E402

CLASSES = 1000
SCALE = 64.0


def build_model(name, image_size):
    if name == "mbf":
        assert image_size == 112, "MobileFaceNet's 7x7 global depthwise conv needs 112x112 input"
        return models.build(name)
    return models.build(name, image_size=(image_size, image_size))


def run_one(args, layout):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(args.model, args.image_size)
    macs = models.forward_macs(model, args.image_size)
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size).to(memory_format=memory_format)
    times = []
    if args.mode == "train":
        model.train()
        head = torch.nn.Parameter(torch.empty(CLASSES, 512).normal_(0, 0.01))
        labels = torch.randint(0, CLASSES, (args.batch_size,))
        optimizer = torch.optim.SGD([{"params": [p for p in model.parameters() if p.requires_grad]},
                                     {"params": [head]}], lr=0.1, momentum=0.9, weight_decay=5e-4)
        for step in range(args.warmup + args.steps):
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                embeddings = model(images)
            logits = SCALE * F.normalize(embeddings.float(), dim=1) @ F.normalize(head, dim=1).t()
            loss = F.cross_entropy(logits, labels)
            loss.backward()
            optimizer.step()
            if not torch.isfinite(loss):
                raise SystemExit(f"loss became {loss.item()} at step {step}")
            if step >= args.warmup:
                times.append(time.perf_counter() - start)
        flop_per_image = 3 * 2 * macs
    else:
        model.eval()
        with torch.no_grad():
            for step in range(args.warmup + args.steps):
                start = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                    embeddings = model(images)
                float(embeddings[0, 0])
                if step >= args.warmup:
                    times.append(time.perf_counter() - start)
        flop_per_image = 2 * macs
    median = statistics.median(times)
    images_per_second = args.batch_size / median
    return {
        "engine": f"torch {torch.__version__}", "mode": args.mode, "model": args.model,
        "batch_size": args.batch_size, "image_size": args.image_size, "threads": args.threads,
        "layout": layout, "precision": args.precision, "images_per_second": images_per_second,
        "gflop_per_image": flop_per_image / 1e9,
        "gflops_per_second": images_per_second * flop_per_image / 1e9,
        "step_seconds": times,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["train", "embed"])
    parser.add_argument("--model", choices=["r18", "r34", "r50", "r100", "r200", "mbf"], default="r18")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layout", choices=["nchw", "channels_last", "best"], default="best")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                        help="bf16: torch.autocast('cpu', torch.bfloat16) around forward and loss")
    args = parser.parse_args()
    if args.layout != "best":
        print(json.dumps(run_one(args, args.layout)))
        return
    results = []
    for layout in ("nchw", "channels_last"):
        command = [sys.executable, os.path.abspath(__file__)] + [a for a in sys.argv[1:]] + ["--layout", layout]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"{layout} run failed with status {done.returncode}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = dict(max(results, key=lambda r: r["images_per_second"]))
    best["layouts"] = {r["layout"]: {k: r[k] for k in ("images_per_second", "peak_rss_bytes")} for r in results}
    print(json.dumps(best))


if __name__ == "__main__":
    main()
