#!/usr/bin/python3
"""Loader benchmark: HaarFace's loader against torchvision ImageFolder + DataLoader, same run, same images.

Both do what arcface_torch does per image: decode a 112x112 JPEG, random horizontal flip, x/255,
(x - 0.5)/0.5, into an NCHW float batch of 128, drop_last, shuffled. torchvision: ImageFolder (PIL),
RandomHorizontalFlip + ToTensor + Normalize(0.5, 0.5), DataLoader(num_workers=2, persistent_workers=True,
so worker start-up is not charged to it). Each side runs one untimed epoch, then EPOCHS timed epochs;
rounds alternate and medians are quoted. Correctness first: both sides' channel means over the timed
epochs (independent of order and flips) must agree within 1e-5 (both decode with libjpeg-turbo's accurate
DCT, so pixels are identical; only float summation order differs).

Debian python3-torch 1.13, python3-torchvision 0.14, python3-pil 9.4, NumPy 1.24.
  /usr/bin/python3 scripts/bench/loader_compare.py [--haarface .build/release/haarface] [--images 2048]
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import numpy as np
from PIL import Image


def make_images(folder, count, identities, seed=0):
    """Face-sized JPEGs (quality 95) with smooth structure plus sensor-like noise, so that the files are
    as large as real 112x112 face crops (about 5-8 KB)."""
    marker = os.path.join(folder, ".complete-%d-%d" % (count, identities))
    if os.path.exists(marker):
        return
    rng = np.random.default_rng(seed)
    for i in range(count):
        person = os.path.join(folder, "id%04d" % (i % identities))
        os.makedirs(person, exist_ok=True)
        coarse = rng.uniform(0, 255, size=(8, 8, 3)).astype(np.uint8)
        base = np.asarray(Image.fromarray(coarse).resize((112, 112), Image.BICUBIC), dtype=np.float32)
        pixels = np.clip(base + rng.normal(0, 12, size=base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(person, "%05d.jpg" % i), quality=95)
    open(marker, "w").close()


def run_ours(haarface, folder, workers, epochs):
    out = subprocess.run([haarface, "bench-data", "--images", folder, "--workers", str(workers),
                          "--batch-size", "128", "--epochs", str(epochs)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def run_torch(folder, epochs):
    import torch
    from torchvision import datasets, transforms
    transform = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                    transforms.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])])
    dataset = datasets.ImageFolder(folder, transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True, num_workers=2, drop_last=True,
                                         persistent_workers=True)
    for _ in loader:  # warm-up epoch
        pass
    sums = torch.zeros(3, dtype=torch.float64)
    images = 0
    start = time.perf_counter()
    for _ in range(epochs):
        for batch, _labels in loader:
            sums += batch.sum(dim=(0, 2, 3), dtype=torch.float64)
            images += batch.shape[0]
    seconds = time.perf_counter() - start
    plane = 112 * 112
    return {"images": images, "seconds": seconds, "images_per_second": images / seconds,
            "channel_means": (sums / (images * plane)).tolist(), "torch": torch.__version__}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--haarface", default=".build/release/haarface")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--identities", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", default="/tmp/haarface-loader-bench")
    args = parser.parse_args()
    make_images(args.folder, args.images, args.identities)
    sizes = [os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.folder) for f in fs if f.endswith(".jpg")]
    results = {"ours_1_worker": [], "ours_2_workers": [], "torchvision_2_workers": []}
    for _ in range(args.rounds):
        results["ours_1_worker"].append(run_ours(args.haarface, args.folder, 1, args.epochs))
        results["torchvision_2_workers"].append(run_torch(args.folder, args.epochs))
        results["ours_2_workers"].append(run_ours(args.haarface, args.folder, 2, args.epochs))
    for name, runs in results.items():
        means = runs[0]["channel_means"]
        reference = results["torchvision_2_workers"][0]["channel_means"]
        gap = max(abs(a - b) for a, b in zip(means, reference))
        assert gap < 1e-5, "%s channel means %s differ from torchvision's %s" % (name, means, reference)
    median = {name: statistics.median(r["images_per_second"] for r in runs) for name, runs in results.items()}
    summary = {
        "images": args.images, "mean_jpeg_bytes": sum(sizes) / len(sizes), "rounds": args.rounds,
        "median_images_per_second": median,
        "ratio_ours_2_workers_to_torchvision_2_workers": median["ours_2_workers"] / median["torchvision_2_workers"],
        "channel_means": {name: runs[0]["channel_means"] for name, runs in results.items()},
        "all_runs_images_per_second": {name: [round(r["images_per_second"], 1) for r in runs] for name, runs in results.items()},
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
