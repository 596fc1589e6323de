#!/usr/bin/python3
"""Verification-set (.bin pickle, FastFace folder .npy) reference: loads files with Python's own pickle
and NumPy, and writes the fixtures our reader must accept. Debian Python 3.11, NumPy 1.24.

  data_verification.py load BIN     pickle.load(f, encoding='bytes') as arcface_torch does; prints JSON
                                    (images as hex, flags, the opcodes the file uses)
  data_verification.py npy FILE     np.load; prints JSON (dtype, shape, values)
  data_verification.py [fixtures]   writes Tests/FaceDataTests/Fixtures/{bin_*.bin, pair_label.npy}
"""
import json
import os
import pickle
import pickletools
import sys


def fixture_images():
    """Image i has length LENGTHS[i] and byte j = (7*i + j) % 256: lengths straddle the 1-byte and
    4-byte length opcodes (255/256)."""
    lengths = [3, 300, 0, 255, 256, 1000]
    return [bytes((7 * i + j) % 256 for j in range(n)) for i, n in enumerate(lengths)]


FLAGS = [True, False, True]


def fixture_arrays():
    """Array i has shape (2, 3, 3) and element k (C order) = (13*i + k) % 256."""
    import numpy as np
    return [np.array([(13 * i + k) % 256 for k in range(18)], dtype=np.uint8).reshape(2, 3, 3) for i in range(6)]


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    images, flags = pickle.loads(data, encoding="bytes")
    out = []
    for image in images:
        if isinstance(image, bytes):
            out.append(image.hex())
        else:
            out.append({"shape": list(image.shape), "dtype": str(image.dtype), "hex": image.tobytes().hex()})
    opcodes = sorted({op.name for op, _, _ in pickletools.genops(data)})
    return {"images": out, "same": [bool(f) for f in flags], "opcodes": opcodes}


def fixtures():
    import numpy as np
    out = os.path.join(os.path.dirname(__file__), "../../Tests/FaceDataTests/Fixtures")
    os.makedirs(out, exist_ok=True)
    images = fixture_images()
    for protocol in (2, 3, 4, 5):
        path = os.path.join(out, "bin_bytes_p%d.bin" % protocol)
        with open(path, "wb") as f:
            pickle.dump((images, FLAGS), f, protocol=protocol)
        print("wrote", path, load(path)["opcodes"])
    arrays = fixture_arrays()
    for protocol in (2, 5):
        path = os.path.join(out, "bin_arrays_p%d.bin" % protocol)
        with open(path, "wb") as f:
            pickle.dump((arrays, np.array(FLAGS)), f, protocol=protocol)
        print("wrote", path, load(path)["opcodes"])
    path = os.path.join(out, "pair_label.npy")
    np.save(path, np.array(FLAGS))
    print("wrote", path, open(path, "rb").read()[:80])
    path = os.path.join(out, "floats.npy")
    np.save(path, np.arange(6, dtype=np.float32).reshape(2, 3) / 4)
    print("wrote", path, open(path, "rb").read()[:80])


def npy(path):
    import numpy as np
    a = np.load(path)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "values": a.ravel().tolist()}


if __name__ == "__main__":
    if sys.argv[1:2] == ["load"]:
        print(json.dumps(load(sys.argv[2])))
    elif sys.argv[1:2] == ["npy"]:
        print(json.dumps(npy(sys.argv[2])))
    elif sys.argv[1:2] in (["fixtures"], []):  # make fixtures runs every script without arguments
        fixtures()
    else:
        sys.exit(__doc__)
