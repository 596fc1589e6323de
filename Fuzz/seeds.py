#!/usr/bin/python3
"""Seed inputs for the fuzz targets (Fuzz/run.sh), used while a target's committed corpus (Fuzz/corpus/<target>)
is empty: small valid files of each format, written from the formats' own definitions (safetensors' header,
onnx.proto's field numbers, insightface's IJB meta layout, arcface_torch's training.log lines) and, for the
torch.save targets, by Debian's torch (skipped where it is not installed: libFuzzer then starts from nothing).
Usage: /usr/bin/python3 Fuzz/seeds.py OUT   (writes OUT/<target>/<seed>)
"""
import io
import json
import os
import struct
import sys
import zipfile
from collections import OrderedDict

out = sys.argv[1]
fixtures = "Tests/FaceDataTests/Fixtures"


def seed(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode())


def fixture(name):
    with open(os.path.join(fixtures, name), "rb") as handle:
        return handle.read()


# The FaceData readers: the committed fixtures (made by scripts/reference/*.py).
for prefix in ("python_insightface", "python_im2rec"):
    seed("recordio", prefix, fixture(prefix + ".idx") + b"\0" + fixture(prefix + ".rec"))
for name in sorted(os.listdir(fixtures)):
    if name.endswith(".bin"):
        seed("pickle", name, fixture(name))
    if name.endswith(".npy"):
        seed("npy", name, fixture(name))
seed("jpeg", "jpeg_noise.jpg", fixture("jpeg_noise.jpg"))


def safetensors(tensors, metadata):
    """tensors: [(name, dtype, shape, bytes)] in the format's layout: u64 header length, JSON header, data."""
    header, data = {"__metadata__": metadata}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def floats(count):
    return struct.pack("<%df" % count, *[0.25 * i for i in range(count)])


seed("safetensors", "two", safetensors([("a", "F32", [2, 2], floats(4)), ("b", "I64", [1], struct.pack("<q", 7)),
                                        ("c", "BF16", [2], b"\x80\x3f\x00\x40")], {"producer": "seeds.py"}))
# A backbone's final layers only: the checkpoint readers build the network before loading (the loader then
# finds the trunk missing), which is the path worth fuzzing.
head = [("features.weight", "F32", [4], floats(4)), ("features.bias", "F32", [4], floats(4)),
        ("fc.weight", "F32", [4, 512], floats(2048))]
seed("checkpoint", "r18", safetensors(head, {"network": "r18", "image_size": "16"}))
seed("checkpoint", "keys", safetensors(head + [("layer1.0.bn1.weight", "F32", [64], floats(64))], {}))
seed("checkpoint", "mbf", safetensors([("conv_sep.layers.0.weight", "F32", [1], floats(1)),
                                       ("features.layers.3.weight", "F32", [4], floats(4))], {}))


# ONNX: a ModelProto holding a graph whose initializers are the same final layers (onnx.proto's field numbers).
def varint(value):
    encoded = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        encoded += bytes([byte | (0x80 if value else 0)])
        if not value:
            return encoded


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def scalar(number, value):
    return varint(number << 3) + varint(value)


def initializer(name, shape, raw):
    # TensorProto: dims = 1, data_type = 2 (1 = FLOAT), name = 8, raw_data = 9.
    return b"".join(scalar(1, d) for d in shape) + scalar(2, 1) + field(8, name.encode()) + field(9, raw)


graph = b"".join(field(5, initializer(name, shape, raw)) for name, _, shape, raw in head) + field(2, b"torch_jit")
opset = scalar(2, 11)   # OperatorSetIdProto.version = 2
seed("onnx", "head", scalar(1, 6) + field(8, opset) + field(7, graph))   # ir_version = 1, opset_import = 8, graph = 7

# Logs: the bundled arcface_torch training.log (its first lines) and a loss CSV.
with open("examples/arcface_multistep.log") as handle:
    seed("traininglog", "arcface", "".join(handle.readlines()[:60]))
seed("traininglog", "csv", "step,epoch,loss,lr\n" + "".join(f"{s},{s // 20},{10 - s * 0.05:.3f},0.1\n" for s in range(1, 80)))
seed("metrics", "metrics", "step,epoch,loss,lr,images_per_second\n"
     + "".join(f"{s},0,{9 - s * 0.01:.4f},0.1,123.5\n" for s in range(1, 20)))

# Configs: arcface_torch's names, as the README's examples and studies/beyond.yaml use them.
config = {"network": "r18", "image_size": 16, "embedding_size": 128, "margin_list": [1.0, 0.0, 0.4], "batch_size": 64,
          "lr": 0.1, "num_epoch": 5, "sample_rate": 0.5, "scheduler": {"name": "mhlr", "window": 16}}
seed("json", "config", json.dumps(config))
seed("yaml", "config", "".join(f"{key}: {json.dumps(value)}\n" for key, value in config.items()))
seed("yaml", "anchors", "network: r18\nlr: &base 0.1\nscheduler:\n  name: poly\nwarmup_lr: *base\n")
seed("study", "study", "base:\n  network: r18\n  batch_size: 64\nreference: poly-20\nseeds: [1, 2]\narms:\n"
     "  - {name: poly-20, num_epoch: 20, scheduler: {name: poly}}\n  - {name: mhlr-5, num_epoch: 5, scheduler: {name: mhlr}}\n")

# IJB meta (insightface's layout): template-media, landmarks, pairs, joined by NUL bytes.
seed("ijb", "meta", "1.jpg 1 69544\n2.jpg 2 69545\n\0"
     "1.jpg 108.8 116.5 142.7 118.2 123.4 137.7 108.6 155.6 136.4 157.0 0.998\n"
     "2.jpg 10 20 30 21 20 30 12 40 28 41 0.5\n\0" "1 2 0\n1 1 1\n")

# torch.save: a small state_dict (float32, float16, int64, a strided view) by Debian's torch.
try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    state = OrderedDict([("conv.weight", torch.arange(12, dtype=torch.float32).reshape(2, 6)),
                         ("bn.running_var", torch.ones(3, dtype=torch.float16)),
                         ("bn.num_batches_tracked", torch.tensor(7)),
                         ("view", torch.arange(8, dtype=torch.float32).reshape(2, 4).t())])
    legacy = io.BytesIO()
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    seed("torchlegacy", "state_dict", legacy.getvalue())
    archive = io.BytesIO()
    torch.save(state, archive)
    with zipfile.ZipFile(io.BytesIO(archive.getvalue())) as opened:
        seed("torchpickle", "state_dict", opened.read(next(n for n in opened.namelist() if n.endswith("data.pkl"))))
    backbone = OrderedDict((name, torch.tensor(struct.unpack("<%df" % (len(raw) // 4), raw)).reshape(shape))
                           for name, _, shape, raw in head)
    whole = io.BytesIO()
    torch.save(backbone, whole)
    seed("pth", "head", whole.getvalue())
