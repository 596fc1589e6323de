#!/usr/bin/python3
"""HaarFace's PyTorch reference backbones, written from ../shared/reference/insightface.md:
IResNet 18/34/50/100/200 and MobileFaceNet ("mbf"), with the same state_dict keys, shapes and
parameter counts as InsightFace's arcface_torch models, so checkpoints move both ways.

`iresnet(depth, widths=...)` also builds reduced-width variants for small test fixtures.
Pinned to Debian's python3-torch 1.13 under /usr/bin/python3. `models.py roundtrip ...` (see
_roundtrip) serves NNTests' checkpoint interchange test. Run without arguments, it prints the
parameter counts (insightface: r18 24.03M, r34 34.14M, r50 43.59M, r100 65.16M, r200 118.83M, mbf ~2.06M).
"""
import json
import os
import sys

import torch
from torch import nn

STAGES = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 14, 3], 100: [3, 13, 30, 3], 200: [6, 26, 60, 6]}
BN_EPS = 1e-5


class IBasicBlock(nn.Module):
    """BN -> conv3x3 (stride 1) -> BN -> PReLU -> conv3x3 (block stride) -> BN, plus the shortcut; no final activation."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels, eps=BN_EPS)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.prelu = nn.PReLU(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        if stride != 1 or in_channels != out_channels:
            # Shortcut on the raw block input: conv1x1 with the block stride, then BN.
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels, eps=BN_EPS))
        else:
            self.downsample = None

    def forward(self, x):
        y = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return y + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    def __init__(self, stage_blocks, widths=(64, 128, 256, 512), image_size=(112, 112),
                 embedding_size=512, dropout=0.0):
        super().__init__()
        height, width = image_size
        assert height % 16 == 0 and width % 16 == 0, "input sides must be divisible by 16"
        self.conv1 = nn.Conv2d(3, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0], eps=BN_EPS)
        self.prelu = nn.PReLU(widths[0])
        channels = widths[0]
        for index, (blocks, out_channels) in enumerate(zip(stage_blocks, widths)):
            stage = [IBasicBlock(channels, out_channels, 2)]
            stage += [IBasicBlock(out_channels, out_channels, 1) for _ in range(blocks - 1)]
            setattr(self, f"layer{index + 1}", nn.Sequential(*stage))
            channels = out_channels
        self.bn2 = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(channels * (height // 16) * (width // 16), embedding_size)
        self.features = nn.BatchNorm1d(embedding_size, eps=BN_EPS)
        # Init as insightface.md: conv weights N(0, 0.1), BN weight 1 bias 0, PReLU 0.25 (PyTorch's
        # default), Linear PyTorch's default; the embedding BN's weight is fixed at 1 and not trained.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.1)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.ones_(self.features.weight)
        self.features.weight.requires_grad = False

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


def iresnet(depth, **kwargs):
    return IResNet(STAGES[depth], **kwargs)


# MobileFaceNet. Module nesting reproduces arcface_torch's state_dict keys:
#   layers.<i>.layers.<j>... for the body, conv_sep.layers.*, features.layers.{0.layers.*, 2, 3}.

class ConvBlock(nn.Module):
    """conv (no bias) -> BN -> PReLU, held in `layers` (keys layers.0/1/2)."""

    def __init__(self, in_channels, out_channels, kernel, stride=1, padding=0, groups=1, activation=True):
        super().__init__()
        parts = [nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding,
                           groups=groups, bias=False),
                 nn.BatchNorm2d(out_channels)]
        if activation:
            parts.append(nn.PReLU(out_channels))
        self.layers = nn.Sequential(*parts)

    def forward(self, x):
        return self.layers(x)


def LinearBlock(in_channels, out_channels, kernel, stride=1, padding=0, groups=1):
    """conv (no bias) -> BN, no activation."""
    return ConvBlock(in_channels, out_channels, kernel, stride, padding, groups, activation=False)


class DepthWise(nn.Module):
    """1x1 ConvBlock in->g, 3x3 depthwise ConvBlock g->g (stride s), 1x1 LinearBlock g->out; identity add if residual."""

    def __init__(self, in_channels, out_channels, groups, stride, residual=False):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(
            ConvBlock(in_channels, groups, 1),
            ConvBlock(groups, groups, 3, stride=stride, padding=1, groups=groups),
            LinearBlock(groups, out_channels, 1))

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, channels, blocks, groups):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(channels, channels, groups, 1, residual=True) for _ in range(blocks)])

    def forward(self, x):
        return self.layers(x)


class GDC(nn.Module):
    """Global depthwise 7x7 LinearBlock -> flatten -> Linear (no bias) -> BatchNorm1d."""

    def __init__(self, embedding_size):
        super().__init__()
        self.layers = nn.Sequential(
            LinearBlock(512, 512, 7, groups=512),
            nn.Flatten(),
            nn.Linear(512, embedding_size, bias=False),
            nn.BatchNorm1d(embedding_size))

    def forward(self, x):
        return self.layers(x)


class MobileFaceNet(nn.Module):
    def __init__(self, embedding_size=512):
        super().__init__()
        self.layers = nn.ModuleList([
            ConvBlock(3, 128, 3, stride=2, padding=1),
            ConvBlock(128, 128, 3, stride=1, padding=1, groups=64),
            DepthWise(128, 128, 128, 2),
            Residual(128, 4, 128),
            DepthWise(128, 256, 256, 2),
            Residual(256, 6, 256),
            DepthWise(256, 256, 512, 2),
            Residual(256, 2, 256),
        ])
        self.conv_sep = ConvBlock(256, 512, 1)
        self.features = GDC(embedding_size)
        # Init: Kaiming normal (fan_out, relu) for convs and the Linear; BN weight 1 bias 0; PReLU 0.25.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.features(self.conv_sep(x))


def build(name, **kwargs):
    """'r18' .. 'r200' or 'mbf'."""
    if name == "mbf":
        return MobileFaceNet(**kwargs)
    return iresnet(int(name[1:]), **kwargs)


def forward_macs(model, image_size):
    """Multiply-adds of one image's forward pass through the convolutions and linear layers."""
    total = [0]

    def conv_hook(module, inputs, output):
        total[0] += output[0].numel() * module.weight[0].numel()

    def linear_hook(module, inputs, output):
        total[0] += module.in_features * module.out_features

    hooks = [m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return total[0]


MODEL_NAMES = ["r18", "r34", "r50", "r100", "r200", "mbf"]

def _roundtrip(argv):
    """models.py roundtrip IN OUT DEPTH W1,W2,W3,W4 SIZE EMBEDDING: loads the safetensors state IN into
    iresnet(DEPTH) with load_state_dict(strict=True), prints its evaluation-mode embedding of
    nn_fixtures.formula_images(2, SIZE) as JSON, and saves the state_dict to OUT."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from safetensors_torch import load_file, save_file
    from nn_fixtures import formula_images
    source, target, depth, widths, size, embedding = argv
    size = int(size)
    model = iresnet(int(depth), widths=tuple(int(w) for w in widths.split(",")), image_size=(size, size),
                    embedding_size=int(embedding))
    tensors, _ = load_file(source)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    with torch.no_grad():
        out = model(formula_images(2, size))
    save_file(model.state_dict(), target, metadata={"producer": "models.py roundtrip"})
    print(json.dumps({"embedding": out.reshape(-1).tolist(), "keys": len(tensors)}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "roundtrip":
        _roundtrip(sys.argv[2:])
    else:
        print(f"torch {torch.__version__}")
        for name in MODEL_NAMES:
            model = build(name)
            count = sum(p.numel() for p in model.parameters())
            print(f"{name}: {count / 1e6:.2f}M parameters ({count}), {len(model.state_dict())} state_dict keys")
