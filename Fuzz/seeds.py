#!/usr/bin/python3
"""Seed inputs for the torch.save fuzz targets (Fuzz/run.sh): a small state_dict (float32, float16, int64, a
strided view) saved by Debian's torch 1.13, as the data.pkl of the zip layout (torchpickle) or as a whole legacy
file (torchlegacy).
Usage: /usr/bin/python3 Fuzz/torch_seeds.py torchpickle|torchlegacy OUT
"""
import io
import sys
import zipfile
from collections import OrderedDict

import torch

target, out = sys.argv[1], sys.argv[2]
state = OrderedDict([("conv.weight", torch.arange(12, dtype=torch.float32).reshape(2, 6)),
                     ("bn.running_var", torch.ones(3, dtype=torch.float16)),
                     ("bn.num_batches_tracked", torch.tensor(7)),
                     ("view", torch.arange(8, dtype=torch.float32).reshape(2, 4).t())])
buffer = io.BytesIO()
if target == "torchlegacy":
    torch.save(state, buffer, _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
else:
    torch.save(state, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        data = archive.read(next(name for name in archive.namelist() if name.endswith("data.pkl")))
with open(out, "wb") as handle:
    handle.write(data)
