"""Checks an ONNX model as users deploy it, for Tests/ONNXTests/ONNXExportTests.swift (run at test time with the
project's .venv-interop python, pinned in scripts/interop/requirements.txt):

  .venv-interop/bin/python scripts/interop/onnx_runtime_check.py MODEL.onnx IMAGES.f32:N:OUT.f32 [...]

onnx.checker.check_model (full check, with shape inference) must pass; the input must be `data`, float32,
[batch, 3, H, W] with a symbolic batch; then ONNX Runtime (CPU, 2 threads) runs each IMAGES file (N images, raw
little-endian float32, NCHW) and writes the outputs as raw float32 to OUT. Prints a JSON line describing the model.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime


def main():
    path, batches = sys.argv[1], sys.argv[2:]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    graph = model.graph
    assert len(graph.input) == 1 and graph.input[0].name == "data", [i.name for i in graph.input]
    tensor_type = graph.input[0].type.tensor_type
    assert tensor_type.elem_type == onnx.TensorProto.FLOAT, tensor_type.elem_type
    dims = tensor_type.shape.dim
    assert len(dims) == 4 and dims[0].dim_param and dims[1].dim_value == 3, dims
    height, width = dims[2].dim_value, dims[3].dim_value
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    for batch in batches:
        images, count, out = batch.split(":")
        data = np.fromfile(images, dtype="<f4").reshape(int(count), 3, height, width)
        (embedding,) = session.run(None, {"data": data})
        embedding.astype("<f4").tofile(out)
    print(json.dumps({
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "ops": sorted({node.op_type for node in graph.node}),
        "nodes": len(graph.node),
        "output": graph.output[0].name,
    }))


if __name__ == "__main__":
    main()
