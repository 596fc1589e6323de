#!/usr/bin/python3
"""Writes the NN fixtures that Tests/NNTests read (Debian python3-torch 1.13, numpy 1.24, /usr/bin/python3):

- Fixtures/model_keys.json: for each model of models.py (r18, r34, r50, r100, r200, mbf), every
  state_dict key in order with its shape and kind (parameter / frozen parameter / buffer), and the
  parameter count; for r18 and mbf also the multiply-adds of one 112x112 forward pass (convs + linear).
- Fixtures/iresnet_train_step.safetensors: two SGD training steps of a reduced-width IResNet
  (stages [2,2,2,2] of 8/8/16/16 channels, 32x32 input, batch 4, embedding 16) under an
  ArcFace-style normalised linear head (5 classes, s = 64, no margin) and cross entropy;
  SGD momentum 0.9, weight decay 5e-4, two parameter groups (backbone LR 0.01, head LR 0.02).
  Keys: input.1/2, labels.1/2, init.<key> (model state + head.weight before training),
  loss.1, grad.<param> (gradients of step 1, for every trainable parameter incl. head.weight),
  loss.2, after2.<key> (model state incl. running statistics and num_batches_tracked, and
  head.weight, after both steps), momentum2.<param> (SGD momentum buffers after step 2),
  f32error.<key> (max |torch float32 - float64| of that tensor: torch's own float32 error).
  The reference runs in float64 (stored as F32) so it is the exact answer to within float32
  rounding; the script also prints how far torch's own float32 run lands from it, which is the
  scale the Swift tolerances are set against.
- Fixtures/mobilefacenet_formula.safetensors: full-size MobileFaceNet whose state is filled from a
  closed formula (formula_state; Swift computes the same), four formula images, training-mode forward,
  backward of sum(embedding * cos(0.5 j)): embedding.train, grad.<some params>, after.<some BN
  buffers>, then embedding.eval (evaluation mode, updated running statistics); float64 reference
  with f32error.<key> as above.
- Fixtures/sgd_steps.safetensors: torch.optim.SGD on four one-parameter groups (momentum with weight
  decay; dampening; Nesterov; no momentum), three steps with given gradients, the second step without
  a gradient for group "b" (PyTorch skips it); and torch.nn.utils.clip_grad_norm_ on two tensors.
  Keys: init.<g>, grad.<step>.<g>, after.<step>.<g>, momentum.<g>; clip.{a,b}.grad, clip.{a,b}.clipped,
  clip.total_norm (max_norm 1), clip.{a,b}.unclipped (max_norm 100: unchanged).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from safetensors_torch import save_file  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests/NNTests/Fixtures")

SCALE = 64.0
CLASSES = 5
BATCH = 4
LR_BACKBONE, LR_HEAD, MOMENTUM, WEIGHT_DECAY = 0.01, 0.02, 0.9, 5e-4


def write_model_keys():
    out = {}
    for name in models.MODEL_NAMES:
        model = models.build(name)
        params = dict(model.named_parameters())
        entries = []
        for key, value in model.state_dict().items():
            if key in params:
                kind = "parameter" if params[key].requires_grad else "frozen"
            else:
                kind = "buffer"
            entries.append([key, list(value.shape), kind])
        out[name] = {"parameter_count": sum(p.numel() for p in params.values()), "state": entries}
        if name in ("r18", "mbf"):
            out[name]["forward_macs_112"] = models.forward_macs(model, 112)
        del model
    path = os.path.join(FIXTURES, "model_keys.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {path}: " + ", ".join(f"{k} {v['parameter_count']}" for k, v in out.items()))


def normalised_head_logits(embedding, head_weight):
    # ArcFace-style normalised linear head without a margin: s * cos(embedding, class centre).
    return SCALE * F.normalize(embedding, dim=1, eps=1e-12) @ F.normalize(head_weight, dim=1, eps=1e-12).t()


def run_steps(dtype, generator_seed=0):
    torch.manual_seed(generator_seed)
    model = models.iresnet(18, widths=(8, 8, 16, 16), image_size=(32, 32), embedding_size=16)
    head_weight = torch.nn.Parameter(torch.empty(CLASSES, 16).normal_(0.0, 0.01))
    inputs = [torch.randn(BATCH, 3, 32, 32) for _ in range(2)]
    labels = [torch.tensor([0, 3, 1, 3]), torch.tensor([4, 2, 2, 0])]
    init = {f"init.{k}": v.clone() for k, v in model.state_dict().items()}
    init["init.head.weight"] = head_weight.detach().clone()

    model = model.to(dtype)
    head_weight.data = head_weight.data.to(dtype)
    model.train()
    backbone = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD([{"params": backbone, "lr": LR_BACKBONE},
                                 {"params": [head_weight], "lr": LR_HEAD}],
                                lr=LR_BACKBONE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    out = {}
    for step in (1, 2):
        optimizer.zero_grad()
        logits = normalised_head_logits(model(inputs[step - 1].to(dtype)), head_weight)
        loss = F.cross_entropy(logits, labels[step - 1])
        loss.backward()
        out[f"loss.{step}"] = loss.detach().reshape([])
        if step == 1:
            for key, p in model.named_parameters():
                if p.requires_grad:
                    out[f"grad.{key}"] = p.grad.detach().clone()
            out["grad.head.weight"] = head_weight.grad.detach().clone()
        optimizer.step()
    for key, value in model.state_dict().items():
        out[f"after2.{key}"] = value.clone()
    out["after2.head.weight"] = head_weight.detach().clone()
    names = {id(p): k for k, p in model.named_parameters()}
    names[id(head_weight)] = "head.weight"
    for p, state in optimizer.state.items():
        out[f"momentum2.{names[id(p)]}"] = state["momentum_buffer"].clone()
    for i in (1, 2):
        out[f"input.{i}"] = inputs[i - 1]
        out[f"labels.{i}"] = labels[i - 1]
    out.update(init)
    return out


def write_train_step():
    exact = run_steps(torch.float64)
    single = run_steps(torch.float32)
    # How far torch's float32 run is from the float64 answer, per group of tensors: the yardstick for
    # the Swift tolerances (another float32 implementation will differ by about this much).
    report = {}
    for key, value in exact.items():
        if value.dtype.is_floating_point and not key.startswith(("init.", "input.")):
            group = key.split(".")[0]
            diff = (single[key].double() - value).abs()
            rel = (diff / value.abs().clamp_min(1e-12)).max().item() if value.numel() else 0.0
            worst = report.setdefault(group, [0.0, 0.0])
            worst[0] = max(worst[0], diff.max().item() if value.numel() else 0.0)
            worst[1] = max(worst[1], value.abs().max().item() if value.numel() else 0.0)
    tensors = {k: (v.float() if v.dtype.is_floating_point else v) for k, v in exact.items()}
    # Per tensor, torch's own float32 error: the yardstick for HaarFace's (float32) tolerance.
    for key, value in exact.items():
        if value.dtype.is_floating_point and not key.startswith(("init.", "input.")) and value.numel():
            tensors[f"f32error.{key}"] = (single[key].double() - value).abs().max().float().reshape([])
    path = os.path.join(FIXTURES, "iresnet_train_step.safetensors")
    save_file(tensors, path, metadata={"producer": "scripts/reference/nn_fixtures.py",
                                       "torch": torch.__version__, "precision": "float64 reference stored as F32"})
    print(f"wrote {path}: {len(tensors)} tensors; loss.1 {exact['loss.1'].item():.6f} loss.2 {exact['loss.2'].item():.6f}")
    for group, (abs_err, magnitude) in sorted(report.items()):
        print(f"  torch float32 vs float64, {group}: max abs diff {abs_err:.3e} (max |value| {magnitude:.3e})")


def formula_uniform(count, stream):
    """`count` values uniform in [-1, 1) from an exact integer hash of (element index, stream): NNTests'
    FormulaState.swift computes the same bits with UInt32 arithmetic."""
    mask = np.uint64(0xFFFFFFFF)
    with np.errstate(over="ignore"):  # uint64 products wrap modulo 2^64; only the low 32 bits are kept
        h = (np.arange(count, dtype=np.uint64) * np.uint64(2654435761)
             + np.uint64((stream + 1) * 2246822519 & 0xFFFFFFFF)) & mask
        h ^= h >> np.uint64(15)
        h = (h * np.uint64(2246822519)) & mask
        h ^= h >> np.uint64(13)
        h = (h * np.uint64(3266489917)) & mask
        h ^= h >> np.uint64(16)
    return torch.from_numpy(h.astype(np.float64) / 2.0 ** 31 - 1.0)


def formula_state(model):
    """Fills every float state entry of `model` from a closed formula (repeated in NNTests'
    MobileFaceNetTests), so a full-size model is compared without storing its weights.
    Entry k (state_dict order): base + amplitude * formula_uniform(numel, k), with
    conv weight: 0, sqrt(6 / fan_out) (Kaiming's variance); linear weight: 0, sqrt(3 / in);
    biases 0, 0.1; BN weight 1, 0.2; running_mean 0, 0.1; running_var 1, 0.5; PReLU 0.25, 0.1."""
    modules = dict(model.named_modules())
    with torch.no_grad():
        for k, (key, value) in enumerate(model.state_dict().items()):
            if not value.dtype.is_floating_point:
                continue
            owner, local = key.rsplit(".", 1)
            module = modules[owner]
            if isinstance(module, torch.nn.PReLU):
                base, amplitude = 0.25, 0.1
            elif local == "bias":
                base, amplitude = 0.0, 0.1
            elif local == "running_mean":
                base, amplitude = 0.0, 0.1
            elif local == "running_var":
                base, amplitude = 1.0, 0.5
            elif isinstance(module, torch.nn.Conv2d):
                base, amplitude = 0.0, (6.0 / (value.shape[0] * value.shape[2] * value.shape[3])) ** 0.5
            elif isinstance(module, torch.nn.Linear):
                base, amplitude = 0.0, (3.0 / value.shape[1]) ** 0.5
            else:  # BatchNorm weight
                base, amplitude = 1.0, 0.2
            value.copy_((base + amplitude * formula_uniform(value.numel(), k)).float().reshape(value.shape))


def formula_images(batch, size):
    """Uniform in [-1, 1): formula_uniform(batch * 3 * size * size, 100000), NCHW."""
    return formula_uniform(batch * 3 * size * size, 100000).float().reshape(batch, 3, size, size)


MBF_BATCH = 4
MBF_GRADIENTS = ["layers.0.layers.0.weight", "layers.0.layers.2.weight", "layers.1.layers.0.weight",
                 "layers.3.layers.1.layers.1.layers.0.weight", "layers.6.layers.2.layers.1.bias",
                 "conv_sep.layers.2.weight", "features.layers.0.layers.1.weight", "features.layers.3.bias"]
MBF_BUFFERS = ["layers.0.layers.1.running_mean", "layers.0.layers.1.running_var",
               "features.layers.3.running_mean", "features.layers.3.running_var"]


def run_mbf(dtype):
    model = models.MobileFaceNet()
    formula_state(model)
    model = model.to(dtype)
    images = formula_images(MBF_BATCH, 112).to(dtype)
    model.train()
    embedding = model(images)
    seed = torch.cos(0.5 * torch.arange(embedding.numel(), dtype=torch.float64)).reshape(embedding.shape).to(dtype)
    embedding.backward(seed)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    out = {"embedding.train": embedding.detach()}
    out.update({f"grad.{k}": params[k].grad.clone() for k in MBF_GRADIENTS})
    out.update({f"after.{k}": buffers[k].clone() for k in MBF_BUFFERS})
    model.eval()
    with torch.no_grad():
        out["embedding.eval"] = model(images)
    return out


def write_mbf():
    exact, single = run_mbf(torch.float64), run_mbf(torch.float32)
    tensors = {k: v.float() for k, v in exact.items()}
    for key, value in exact.items():
        tensors[f"f32error.{key}"] = (single[key].double() - value).abs().max().float().reshape([])
    path = os.path.join(FIXTURES, "mobilefacenet_formula.safetensors")
    save_file(tensors, path, metadata={"producer": "scripts/reference/nn_fixtures.py", "torch": torch.__version__})
    print(f"wrote {path}: {len(tensors)} tensors; |embedding| max {exact['embedding.train'].abs().max().item():.4f}")


SGD_GROUPS = {
    "a": dict(lr=0.1, momentum=0.9, weight_decay=5e-4),
    "b": dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
    "c": dict(lr=0.2, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "d": dict(lr=0.3, momentum=0.0, weight_decay=0.02),
}


def write_sgd():
    torch.manual_seed(1)
    params = {g: torch.nn.Parameter(torch.randn(7 if g != "d" else 6).reshape(-1) if g != "d"
                                    else torch.randn(2, 3)) for g in SGD_GROUPS}
    out = {f"init.{g}": p.detach().clone() for g, p in params.items()}
    optimizer = torch.optim.SGD([dict(params=[params[g]], **cfg) for g, cfg in SGD_GROUPS.items()], lr=1.0)
    for step in (1, 2, 3):
        optimizer.zero_grad(set_to_none=True)
        for g, p in params.items():
            if step == 2 and g == "b":
                continue
            p.grad = torch.randn_like(p)
            out[f"grad.{step}.{g}"] = p.grad.clone()
        optimizer.step()
        for g, p in params.items():
            out[f"after.{step}.{g}"] = p.detach().clone()
    for g, p in params.items():
        if "momentum_buffer" in optimizer.state[p] and optimizer.state[p]["momentum_buffer"] is not None:
            out[f"momentum.{g}"] = optimizer.state[p]["momentum_buffer"].clone()
    a, b = torch.nn.Parameter(torch.zeros(5)), torch.nn.Parameter(torch.zeros(3))
    a.grad, b.grad = torch.randn(5) * 3, torch.randn(3) * 3
    out["clip.a.grad"], out["clip.b.grad"] = a.grad.clone(), b.grad.clone()
    out["clip.total_norm"] = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.0).reshape([])
    out["clip.a.clipped"], out["clip.b.clipped"] = a.grad.clone(), b.grad.clone()
    a.grad, b.grad = out["clip.a.grad"].clone(), out["clip.b.grad"].clone()
    torch.nn.utils.clip_grad_norm_([a, b], max_norm=100.0)
    out["clip.a.unclipped"], out["clip.b.unclipped"] = a.grad.clone(), b.grad.clone()
    path = os.path.join(FIXTURES, "sgd_steps.safetensors")
    save_file(out, path, metadata={"producer": "scripts/reference/nn_fixtures.py", "torch": torch.__version__})
    print(f"wrote {path}: {len(out)} tensors; clip total norm {out['clip.total_norm'].item():.6f}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}")
    os.makedirs(FIXTURES, exist_ok=True)
    write_model_keys()
    write_train_step()
    write_sgd()
    write_mbf()
