#!/usr/bin/python3
"""Times loading an IResNet-100 (65M parameters) from safetensors, torch.save files (zip and legacy) and ONNX.

Writes the reference model's state_dict (scripts/reference/models.py, float32) as safetensors and two torch.save
layouts, exports the ONNX file with `haarface export`, then times each: `haarface bench load` (the load alone,
in-process, median of 3) and `haarface embed --checkpoint FILE` of one 112x112 image (process start + load + one
flip-tested forward pass, the same for every format), alternating the formats, medians of 5 rounds. Issue #12's
targets: safetensors under 1 s, .pth and ONNX no slower than safetensors by more than 2x.
Usage: /usr/bin/python3 scripts/bench/checkpoint_load_bench.py [path/to/haarface]   (default .build/release/haarface)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "reference"))
from models import iresnet  # noqa: E402
from safetensors_torch import save_file  # noqa: E402

binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/haarface"
with tempfile.TemporaryDirectory() as folder:
    state = iresnet(100).state_dict()
    paths = {"safetensors": os.path.join(folder, "r100.safetensors"), "pth_zip": os.path.join(folder, "r100.pth"),
             "pth_legacy": os.path.join(folder, "r100_legacy.pth"), "onnx": os.path.join(folder, "r100.onnx")}
    save_file(state, paths["safetensors"], metadata={"network": "r100"})
    torch.save(state, paths["pth_zip"])
    torch.save(state, paths["pth_legacy"], _use_new_zipfile_serialization=False)
    subprocess.run([binary, "export", "--checkpoint", paths["safetensors"], "--output", paths["onnx"]],
                   check=True, capture_output=True)
    images = os.path.join(folder, "faces")
    subprocess.run([binary, "synth", "--identities", "1", "--images-per-identity", "1", "--image-size", "112",
                    "--pairs", "0", "--output", images], check=True, capture_output=True)
    image = next(os.path.join(root, name) for root, _, names in os.walk(images) for name in names if name.endswith(".jpg"))
    load, embed = {name: [] for name in paths}, {name: [] for name in paths}
    for _ in range(5):
        for name, path in paths.items():
            run = subprocess.run([binary, "bench", "load", "--checkpoint", path], check=True, capture_output=True, text=True)
            load[name].append(json.loads(run.stdout)["median_seconds"])
            start = time.perf_counter()
            subprocess.run([binary, "embed", "--checkpoint", path, image, "--output", os.path.join(folder, "e.npy")],
                           check=True, capture_output=True)
            embed[name].append(time.perf_counter() - start)

    def summary(times):
        medians = {name: round(statistics.median(values), 3) for name, values in times.items()}
        return {"median_seconds": medians,
                "ratio_to_safetensors": {n: round(medians[n] / medians["safetensors"], 2) for n in medians}}

    print(json.dumps({"parameters": sum(t.numel() for t in state.values()),
                      "bytes": {name: os.path.getsize(path) for name, path in paths.items()},
                      "load": summary(load), "embed_one_image": summary(embed)}, indent=2))
