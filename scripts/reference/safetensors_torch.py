#!/usr/bin/python3
"""safetensors read/write for torch tensors, written from the format definition
(https://huggingface.co/docs/safetensors): 8-byte little-endian header length, JSON header
{name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the little-endian data.
Debian's python3 has no `safetensors` package, so HaarFace's reference scripts use this module.

Pinned to Debian's python3-torch 1.13 / numpy 1.24 under /usr/bin/python3.

  /usr/bin/python3 scripts/reference/safetensors_torch.py
      writes Tests/NNTests/Fixtures/safetensors_python.safetensors (read by SafeTensorsTests)
  /usr/bin/python3 scripts/reference/safetensors_torch.py dump FILE
      loads FILE into torch tensors and prints them as JSON (used by SafeTensorsTests)
"""
import json
import os
import struct
import sys

import numpy as np
import torch

_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.int64: "I64"}
_TORCH = {v: k for k, v in _DTYPES.items()}
_NUMPY = {"F32": np.float32, "I64": np.int64}


def _raw_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def save_file(tensors, path, metadata=None):
    """Writes {name: tensor} (F32, BF16, I64) in name order; header padded to 8 bytes with spaces."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _DTYPES:
            raise ValueError(f"{name}: dtype {t.dtype} not supported")
        blob = _raw_bytes(t)
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def load_file(path):
    """Returns ({name: tensor}, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = body[begin:end]
        if len(raw) != end - begin:
            raise ValueError(f"{path}: tensor {name}: truncated")
        shape = info["shape"]
        if info["dtype"] == "BF16":
            arr = np.frombuffer(raw, dtype="<i2").copy()
            t = torch.from_numpy(arr).view(torch.bfloat16)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_NUMPY[info["dtype"]]).newbyteorder("<")).copy()
            t = torch.from_numpy(arr.astype(_NUMPY[info["dtype"]]))
        tensors[name] = t.reshape(shape)
    return tensors, metadata


# Inputs of the golden fixture; SafeTensorsTests repeats them to check its own BF16 rounding.
GOLDEN_F32 = [0.0, -1.5, 3.25, 1e-30, -2.0 ** -130, 65504.0]
GOLDEN_BF16 = [1.0, -2.0, 3.140625, 0.1, 1e10, -3.3e-5]
GOLDEN_I64_VECTOR = [-1, 0, 2 ** 40, -(2 ** 62)]
GOLDEN_I64_SCALAR = 1234567890123


def write_golden(path):
    tensors = {
        "f32.matrix": torch.tensor(GOLDEN_F32, dtype=torch.float32).reshape(2, 3),
        "bf16.vector": torch.tensor(GOLDEN_BF16, dtype=torch.float32).bfloat16(),
        "i64.vector": torch.tensor(GOLDEN_I64_VECTOR, dtype=torch.int64),
        "i64.scalar": torch.tensor(GOLDEN_I64_SCALAR, dtype=torch.int64),
        "empty": torch.zeros(0, 4),
    }
    save_file(tensors, path, metadata={"format": "pt", "producer": "safetensors_torch.py"})
    back, meta = load_file(path)
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and torch.equal(back[name], t), name
    print(f"wrote {path}: {sorted(tensors)} torch {torch.__version__}")


def dump(path):
    tensors, metadata = load_file(path)
    out = {"__metadata__": metadata}
    for name, t in tensors.items():
        out[name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                     "values": t.double().reshape(-1).tolist() if t.dtype != torch.int64
                     else t.reshape(-1).tolist()}
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "dump":
        dump(sys.argv[2])
    else:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
        write_golden(os.path.normpath(os.path.join(root, "Tests/NNTests/Fixtures/safetensors_python.safetensors")))
