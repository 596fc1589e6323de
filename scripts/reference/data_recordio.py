#!/usr/bin/python3
"""RecordIO (.rec/.idx) reference reader and fixture writer, written from the format definition
(dmlc-core recordio: magic 0xCED7230A, lrec = cflag << 29 | length, 4-byte padding, multi-part records
re-joined with the magic word; MXNet's IRHeader 'IfQQ' + flag float32 labels; InsightFace's header
record 0). Standard library only (Python 3.11, Debian).

  data_recordio.py read PREFIX [--hex]  prints every record of PREFIX.rec via PREFIX.idx as JSON
  data_recordio.py [fixtures]         writes Tests/FaceDataTests/Fixtures/python_*.rec/.idx
"""
import hashlib
import json
import os
import struct
import sys

MAGIC = 0xCED7230A
HEADER = struct.Struct("<IfQQ")


def read_record(f, offset):
    """The logical record at `offset`: parts joined, the magic word re-inserted between them."""
    payload = b""
    part = 0
    while True:
        f.seek(offset)
        head = f.read(8)
        if len(head) != 8:
            raise ValueError("truncated header at %d" % offset)
        magic, lrec = struct.unpack("<II", head)
        if magic != MAGIC:
            raise ValueError("bad magic 0x%08X at %d" % (magic, offset))
        cflag, length = lrec >> 29, lrec & ((1 << 29) - 1)
        if (part == 0 and cflag not in (0, 1)) or (part > 0 and cflag not in (2, 3)):
            raise ValueError("cflag %d in part %d at %d" % (cflag, part, offset))
        data = f.read(length)
        if len(data) != length:
            raise ValueError("truncated payload at %d" % offset)
        if part > 0:
            payload += struct.pack("<I", MAGIC)
        payload += data
        offset += 8 + (length + 3) // 4 * 4
        part += 1
        if cflag in (0, 3):
            return payload


def unpack(payload):
    flag, label, id1, id2 = HEADER.unpack_from(payload, 0)
    labels = list(struct.unpack_from("<%df" % flag, payload, 24)) if flag > 0 else []
    return {"flag": flag, "label": label, "labels": labels, "id": id1, "id2": id2}, payload[24 + 4 * flag:]


def read_index(path):
    index = {}
    with open(path) as f:
        for line in f:
            key, offset = line.rstrip("\n").split("\t")
            index[int(key)] = int(offset)
    return index


def read(prefix, with_hex=False):
    index = read_index(prefix + ".idx")
    records = {}
    with open(prefix + ".rec", "rb") as f:
        for key in sorted(index):
            header, image = unpack(read_record(f, index[key]))
            header["image_bytes"] = len(image)
            header["image_sha256"] = hashlib.sha256(image).hexdigest()
            if with_hex:
                header["image_hex"] = image.hex()
            records[key] = header
    result = {"records": {str(k): v for k, v in records.items()}}
    head = records.get(0)
    if head is not None and head["flag"] > 0:  # InsightFace layout, as arcface_torch's MXFaceDataset reads it
        first_identity, end = int(head["labels"][0]), int(head["labels"][1])
        result["insightface"] = {
            "images": first_identity - 1,
            "identities": end - first_identity,
            "image_labels": [int(records[k]["labels"][0] if records[k]["flag"] > 0 else records[k]["label"])
                             for k in range(1, first_identity)],
            "identity_ranges": [[int(v) for v in records[k]["labels"]] for k in range(first_identity, end)],
        }
    return result


class Writer:
    """Writes records as dmlc-core's RecordIOWriter does; the .idx in the order given."""

    def __init__(self, prefix):
        self.rec = open(prefix + ".rec", "wb")
        self.idx = open(prefix + ".idx", "w")

    def write(self, key, payload):
        self.idx.write("%d\t%d\n" % (key, self.rec.tell()))
        start = 0
        for i in range(0, len(payload) // 4 * 4, 4):
            if struct.unpack_from("<I", payload, i)[0] == MAGIC:
                self.rec.write(struct.pack("<II", MAGIC, ((1 if start == 0 else 2) << 29) | (i - start)))
                self.rec.write(payload[start:i])
                start = i + 4
        self.rec.write(struct.pack("<II", MAGIC, ((0 if start == 0 else 3) << 29) | (len(payload) - start)))
        self.rec.write(payload[start:])
        self.rec.write(b"\0" * ((4 - len(payload) % 4) % 4))

    def close(self):
        self.rec.close()
        self.idx.close()


def pack(label, id1, image):
    if isinstance(label, (list, tuple)):
        return HEADER.pack(len(label), 0.0, id1, 0) + struct.pack("<%df" % len(label), *label) + image
    return HEADER.pack(0, float(label), id1, 0) + image


def fixture_images():
    """Six 8x8 flat-colour JPEGs made by PIL (Debian python3-pil 9.4), independent of our encoder."""
    from PIL import Image  # Debian python3-pil 9.4
    import io
    images = []
    for k in range(6):
        img = Image.new("RGB", (8, 8), (40 * k, 255 - 40 * k, 128))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=95)
        images.append(buf.getvalue())
    return images


def fixtures():
    out = os.path.join(os.path.dirname(__file__), "../../Tests/FaceDataTests/Fixtures")
    os.makedirs(out, exist_ok=True)
    images = fixture_images()
    magic = struct.pack("<I", MAGIC)
    # InsightFace layout: 5 images of 2 identities, written out of key order (the .idx is not sorted).
    # Image 3's JPEG has the magic word appended twice at aligned payload offsets, so it is split in 3 parts;
    # image 4 stores its label as an extra-label array (flag 2: [label, 7.5]).
    labels = [0, 0, 1, 1, 1]
    payloads = {}
    for key, label in enumerate(labels, start=1):
        image = images[key - 1]
        if key == 3:
            image = image + b"\0" * ((4 - (24 + len(image)) % 4) % 4) + magic + b"ABCD" + magic + b"xy"
        payloads[key] = pack([float(label), 7.5] if key == 4 else label, key, image)
    payloads[6] = pack([1.0, 3.0], 6, b"")
    payloads[7] = pack([3.0, 6.0], 7, b"")
    payloads[0] = pack([6.0, 8.0], 0, b"")
    w = Writer(os.path.join(out, "python_insightface"))
    for key in [3, 0, 1, 2, 7, 4, 5, 6]:
        w.write(key, payloads[key])
    w.close()
    # Header-less im2rec layout: 3 images, labels 2, 0, 1, keys 0..2.
    w = Writer(os.path.join(out, "python_im2rec"))
    for key, label in enumerate([2, 0, 1]):
        w.write(key, pack(label, key, images[key]))
    w.close()
    for name in ("python_insightface", "python_im2rec"):
        print("wrote", os.path.join(out, name) + ".rec/.idx")
        print(json.dumps(read(os.path.join(out, name)), sort_keys=True))


if __name__ == "__main__":
    if sys.argv[1:2] == ["read"]:
        print(json.dumps(read(sys.argv[2], "--hex" in sys.argv[3:]), sort_keys=True))
    elif sys.argv[1:2] in (["fixtures"], []):  # make fixtures runs every script without arguments
        fixtures()
    else:
        sys.exit(__doc__)
