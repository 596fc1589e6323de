#!/usr/bin/python3
"""HaarFace `embed` throughput against ONNX Runtime on the same exported model, same machine, alternating.

For r18 and r50 at 112x112: writes the reference model's weights (scripts/reference/models.py) as safetensors,
exports them with `haarface export`, then alternates `haarface bench embed --model M --batch-size 64` (the
backbone in evaluation mode, no gradients) and ONNX Runtime on the exported file (CPU provider, 2 intra-op
threads, full graph optimisation, a random batch of 64), 3 rounds each; reports images/s medians and the ratio
HaarFace / ONNX Runtime. Issue #12 asks for the ratio.
Usage: /usr/bin/python3 scripts/bench/onnx_embed_bench.py [path/to/haarface]   (needs .venv-interop: make interop-deps)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

import torch

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "..", "..")
sys.path.insert(0, os.path.join(here, "..", "reference"))
from models import build  # noqa: E402
from safetensors_torch import save_file  # noqa: E402

binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/haarface"
venv_python = os.path.join(root, ".venv-interop", "bin", "python")
BATCH, STEPS, WARMUP, ROUNDS = 64, 5, 2, 3

ORT_TIMING = r"""
import json, sys, time
import numpy as np, onnxruntime
path, batch, steps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 2
options.inter_op_num_threads = 1
options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
data = np.random.default_rng(0).uniform(-1, 1, (batch, 3, 112, 112)).astype(np.float32)
times = []
for step in range(warmup + steps):
    start = time.perf_counter()
    session.run(None, {"data": data})
    if step >= warmup:
        times.append(time.perf_counter() - start)
times.sort()
print(json.dumps({"images_per_second": batch / times[len(times) // 2]}))
"""


def haarface_embed(model):
    run = subprocess.run([binary, "bench", "embed", "--model", model, "--batch-size", str(BATCH), "--steps", str(STEPS),
                          "--warmup", str(WARMUP)], check=True, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="2"))
    return json.loads(run.stdout)["images_per_second"]


def runtime_embed(path):
    run = subprocess.run([venv_python, "-c", ORT_TIMING, path, str(BATCH), str(STEPS), str(WARMUP)], check=True,
                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="2"))
    return json.loads(run.stdout)["images_per_second"]


results = {}
with tempfile.TemporaryDirectory() as folder:
    for model in ["r18", "r50"]:
        weights, onnx_path = os.path.join(folder, f"{model}.safetensors"), os.path.join(folder, f"{model}.onnx")
        save_file(build(model).state_dict(), weights, metadata={"network": model})
        subprocess.run([binary, "export", "--checkpoint", weights, "--output", onnx_path], check=True, capture_output=True)
        ours, theirs = [], []
        for _ in range(ROUNDS):
            ours.append(haarface_embed(model))
            theirs.append(runtime_embed(onnx_path))
        results[model] = {"haarface_images_per_second": round(statistics.median(ours), 1),
                          "onnxruntime_images_per_second": round(statistics.median(theirs), 1),
                          "ratio": round(statistics.median(ours) / statistics.median(theirs), 2),
                          "rounds": {"haarface": [round(x, 1) for x in ours], "onnxruntime": [round(x, 1) for x in theirs]}}
print(json.dumps({"batch": BATCH, "threads": 2, "results": results}, indent=2))
