#!/usr/bin/python3
"""Loader benchmark: HaarFace's loader against torchvision ImageFolder + DataLoader, same run, same images.

Both do what arcface_torch does per image: decode a 112x112 JPEG, random horizontal flip, x/255,
(x - 0.5)/0.5, into an NCHW float batch of 128, drop_last, shuffled. torchvision: ImageFolder (PIL),
RandomHorizontalFlip + ToTensor + Normalize(0.5, 0.5), DataLoader(num_workers=2, persistent_workers=True,
so worker start-up is not charged to it). Each side runs one untimed epoch, then EPOCHS timed epochs;
rounds alternate and medians are quoted. Correctness first: both sides' channel means over the timed
epochs (independent of order and flips) must agree within 1e-5 (both decode with libjpeg-turbo's accurate
DCT, so pixels are identical; only float summation order differs).

On a shared machine wall-clock rates swing with the load, so CPU time is measured too (ours: the process's
CPU clock; torchvision: the main process plus its worker processes, from /proc/PID/stat) and both ratios are
printed; the per-core figure is `haarface bench-data --single-thread` (one thread's CPU clock).

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


def run_single(haarface, folder, epochs):
    out = subprocess.run([haarface, "bench-data", "--images", folder, "--single-thread", "--epochs", str(epochs)],
                         check=True, capture_output=True, text=True)
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
    workers = [w.pid for w in loader._iterator._workers]  # persistent: the same processes every epoch
    sums = torch.zeros(3, dtype=torch.float64)
    images = 0
    start = time.perf_counter()
    cpu_start = time.process_time() + sum(process_cpu_seconds(pid) for pid in workers)
    for _ in range(epochs):
        for batch, _labels in loader:
            sums += batch.sum(dim=(0, 2, 3), dtype=torch.float64)
            images += batch.shape[0]
    seconds = time.perf_counter() - start
    cpu = time.process_time() + sum(process_cpu_seconds(pid) for pid in workers) - cpu_start
    plane = 112 * 112
    return {"images": images, "seconds": seconds, "images_per_second": images / seconds,
            "cpu_seconds": cpu, "images_per_cpu_second": images / cpu,
            "channel_means": (sums / (images * plane)).tolist(), "torch": torch.__version__}


def process_cpu_seconds(pid):
    """User + system CPU time of a live process (fields 14 and 15 of /proc/PID/stat, in clock ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    median_cpu = {name: statistics.median(r["images_per_cpu_second"] for r in runs) for name, runs in results.items()}
    single = [run_single(args.haarface, args.folder, args.epochs) for _ in range(args.rounds)]
    summary = {
        "images": args.images, "mean_jpeg_bytes": sum(sizes) / len(sizes), "rounds": args.rounds,
        "per_core_decode_flip_normalise_images_per_cpu_second": statistics.median(r["images_per_cpu_second"] for r in single),
        "median_images_per_second_wall": median,
        "median_images_per_cpu_second": median_cpu,
        "ratio_wall_ours_2_workers_to_torchvision_2_workers": median["ours_2_workers"] / median["torchvision_2_workers"],
        "ratio_cpu_ours_2_workers_to_torchvision_2_workers": median_cpu["ours_2_workers"] / median_cpu["torchvision_2_workers"],
        "load_average": os.getloadavg(),
        "channel_means": {name: runs[0]["channel_means"] for name, runs in results.items()},
        "all_runs_images_per_second_wall": {name: [round(r["images_per_second"], 1) for r in runs] for name, runs in results.items()},
        "all_runs_images_per_cpu_second": {name: [round(r["images_per_cpu_second"], 1) for r in runs] for name, runs in results.items()},
        "single_thread_runs_images_per_cpu_second": [round(r["images_per_cpu_second"], 1) for r in single],
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
