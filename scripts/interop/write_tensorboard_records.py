#!/usr/bin/env python3
"""Writes events with TensorBoard's own record writer, for byte-for-byte comparison with HaarFace's writer.

    .venv-interop/bin/python scripts/interop/write_tensorboard_records.py OUTPUT < events.json

events.json is a list of events, each {"wall_time": seconds, "step": n} with either "file_version" (and
"writer", the source metadata) or "scalars": [[tag, float32 bits as an integer], ...] (bits, so that every
float32, NaN included, travels exactly). Each event becomes tensorboard.compat.proto.event_pb2.Event,
serialised by protobuf and framed by tensorboard.summary.writer.record_writer.RecordWriter (uint64 length,
masked CRC-32C of it, the data, masked CRC-32C of the data) into OUTPUT.
Pinned: tensorboard 2.21.0 (scripts/interop/requirements.txt).
"""
import json
import struct
import sys

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter


def event(spec):
    result = event_pb2.Event(wall_time=spec["wall_time"], step=spec["step"])
    if "file_version" in spec:
        result.file_version = spec["file_version"]
        result.source_metadata.writer = spec["writer"]
    else:
        values = [summary_pb2.Summary.Value(tag=tag, simple_value=struct.unpack("<f", struct.pack("<I", bits))[0])
                  for tag, bits in spec["scalars"]]
        result.summary.CopyFrom(summary_pb2.Summary(value=values))
    return result


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: write_tensorboard_records.py OUTPUT < events.json")
    with open(sys.argv[1], "wb") as output:
        writer = RecordWriter(output)
        for spec in json.load(sys.stdin):
            writer.write(event(spec).SerializeToString())
        writer.flush()


if __name__ == "__main__":
    main()
