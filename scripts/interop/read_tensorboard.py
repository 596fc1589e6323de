#!/usr/bin/env python3
"""Reads a TensorBoard log folder with TensorBoard's own reader and prints what it holds, as JSON.

    .venv-interop/bin/python scripts/interop/read_tensorboard.py LOGDIR

First every event file in LOGDIR is read record by record with TensorBoard's record reader, which checks each
record's two masked CRC-32Cs: a bad checksum or a truncated record fails the script (EventAccumulator alone
would stop reading there quietly). Then EventAccumulator (size_guidance 0: keep every event; orphaned data not
purged, so a step written twice shows twice) gives the scalars. Prints

    {"files": [{"name": ..., "records": N, "file_version": ...}, ...],
     "scalars": {tag: [[step, value], ...], ...}}

with each value the float32 TensorBoard read, widened to a double (exact); non-finite values as "nan", "inf", "-inf".
Pinned: tensorboard 2.21.0 (scripts/interop/requirements.txt).
"""
import json
import math
import os
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow


def read_records(path):
    reader = pywrap_tensorflow.PyRecordReader_New(path)
    records = []
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return records
        records.append(reader.record())


def number(value):
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: read_tensorboard.py LOGDIR")
    logdir = sys.argv[1]
    files = []
    for name in sorted(os.listdir(logdir)):
        if "tfevents" not in name:
            continue
        records = read_records(os.path.join(logdir, name))
        first = event_pb2.Event.FromString(records[0]) if records else None
        files.append({"name": name, "records": len(records),
                      "file_version": first.file_version if first is not None else None})

    accumulator = event_accumulator.EventAccumulator(
        logdir, size_guidance={event_accumulator.SCALARS: 0}, purge_orphaned_data=False)
    accumulator.Reload()
    scalars = {tag: [[event.step, number(event.value)] for event in accumulator.Scalars(tag)]
               for tag in accumulator.Tags()["scalars"]}
    json.dump({"files": files, "scalars": scalars}, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
