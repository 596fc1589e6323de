#!/usr/bin/python3
"""ONNX files exported from the PyTorch reference models as arcface_torch's torch2onnx.py exports them, for
Tests/TrainingTests/ONNXImportTests.swift, written at test time into OUTDIR.

Pinned to Debian's python3-torch 1.13 (run with /usr/bin/python3):
  /usr/bin/python3 scripts/reference/torch_onnx.py OUTDIR
writes, for r18 (IResNet-18, 112x112, embedding 512) and mbf (MobileFaceNet, its flatten written as
arcface_torch's mobilefacenet.py writes it, x.view(x.size(0), -1), which exports as Shape/Gather/Reshape):
  NAME.onnx             torch.onnx.export in evaluation mode, opset 11, input "data" with a dynamic batch,
                        initializers not listed as inputs (torch folds each conv's batch norm into it)
  NAME.embeddings.f32   PyTorch's embeddings of images.f32 (raw float32, [5, 512])
and images.f32 (5 seeded images in [-1, 1], raw float32 NCHW). The weights are seeded, with batch-norm
statistics measured on random batches (so the activations stay in range) and affine parameters and PReLU
slopes moved off their initial values.
"""
import os
import sys

import torch
from torch import nn

assert torch.__version__.startswith("1.13"), torch.__version__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import build  # noqa: E402


class ViewFlatten(nn.Module):
    """arcface_torch's mobilefacenet.py Flatten."""

    def forward(self, x):
        return x.view(x.size(0), -1)


def realistic(model, generator):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
                if module.weight.requires_grad:
                    module.weight.copy_(1 + 0.2 * (torch.rand(module.weight.shape, generator=generator) * 2 - 1))
                module.bias.copy_(0.1 * (torch.rand(module.bias.shape, generator=generator) * 2 - 1))
                module.momentum = None   # a cumulative average over the batches below
                module.reset_running_stats()
            elif isinstance(module, nn.PReLU):
                module.weight.copy_(0.25 + 0.2 * (torch.rand(module.weight.shape, generator=generator) * 2 - 1))
        model.train()
        for _ in range(2):
            model(torch.rand(8, 3, 112, 112, generator=generator) * 2 - 1)
    return model.eval()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    generator = torch.Generator().manual_seed(12)
    images = torch.rand(5, 3, 112, 112, generator=generator) * 2 - 1
    images.numpy().astype("<f4").tofile(os.path.join(out, "images.f32"))
    for name in ["r18", "mbf"]:
        torch.manual_seed(3)
        model = build(name)
        if name == "mbf":
            model.features.layers[1] = ViewFlatten()
        model = realistic(model, generator)
        with torch.no_grad():
            model(images).numpy().astype("<f4").tofile(os.path.join(out, f"{name}.embeddings.f32"))
            # torch2onnx.py exports a [1, 3, 112, 112] sample and then marks the batch dynamic.
            torch.onnx.export(model, torch.randn(1, 3, 112, 112), os.path.join(out, f"{name}.onnx"),
                              input_names=["data"], keep_initializers_as_inputs=False, opset_version=11,
                              dynamic_axes={"data": {0: "None"}})


if __name__ == "__main__":
    main()
