#!/usr/bin/python3
"""Times loading an IResNet-100 (65M parameters) from a torch.save file (zip and legacy) and from safetensors.

Writes the reference model's state_dict (scripts/reference/models.py, float32) three ways, then times
`haarface embed --checkpoint FILE` of one 112x112 image (load + one forward pass; the forward is the same for
every format, so the differences are the loading), alternating the formats, median of 5 rounds. Issue #12's
target: a .pth no slower than safetensors by more than 2x.
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
             "pth_legacy": os.path.join(folder, "r100_legacy.pth")}
    save_file(state, paths["safetensors"], metadata={"network": "r100"})
    torch.save(state, paths["pth_zip"])
    torch.save(state, paths["pth_legacy"], _use_new_zipfile_serialization=False)
    images = os.path.join(folder, "faces")
    subprocess.run([binary, "synth", "--identities", "1", "--images-per-identity", "1", "--image-size", "112",
                    "--pairs", "0", "--output", images], check=True, capture_output=True)
    image = next(os.path.join(root, name) for root, _, names in os.walk(images) for name in names if name.endswith(".jpg"))
    times = {name: [] for name in paths}
    for _ in range(5):
        for name, path in paths.items():
            start = time.perf_counter()
            subprocess.run([binary, "embed", "--checkpoint", path, image, "--output", os.path.join(folder, "e.npy")],
                           check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    medians = {name: round(statistics.median(values), 3) for name, values in times.items()}
    print(json.dumps({"parameters": sum(t.numel() for t in state.values()), "median_seconds": medians,
                      "ratio_to_safetensors": {n: round(medians[n] / medians["safetensors"], 2) for n in medians}}, indent=2))
