#!/usr/bin/python3
"""Writes the margin-softmax and Partial FC fixtures for Tests/NNTests (MarginLoss*Tests, PartialFC*Tests).

Pinned to Debian's python3-torch 1.13 / numpy 1.24 (run with /usr/bin/python3). The reference heads are
written here from the definitions in shared/reference/insightface.md ("Margin softmax head") and from
arcface_torch's documented behaviour (losses.py CombinedMarginLoss, partial_fc_v2.py PartialFC_V2 and
DistCrossEntropyFunc, single process):
  cos    = clamp(normalize(x) . normalize(W[subset])^T, -1, 1), eps 1e-12
  filter = interclass_filtering_threshold t > 0: non-target cos above t multiplied by 0 (mask without grad)
  ArcFace, arcface_torch mode: under no_grad the cos tensor is overwritten in place with
           cos(arccos(cos) + m2 at the target); autograd never sees it, so d logits / d cos = s everywhere
  ArcFace, exact mode: the classic formula c cos m - sqrt(1 - c^2) sin m at the target, differentiated
  CosFace: target cos - m3 (differentiated; derivative 1)
  loss   = -mean log(max(p_target, 1e-30)); gradient (softmax - onehot) / N, the floor not differentiated
These reference heads were checked once against arcface_torch's own CombinedMarginLoss and
DistCrossEntropyFunc (insightface commit 7fadd42, torch.distributed.all_reduce stubbed; their code is not
part of this repository): identical values and gradients for ArcFace and CosFace, with and without the
filter, and for the floored loss.
Inputs are float32 values; references are computed in float64 from them, so the Swift side's error
against them is its own float32 rounding only. The script asserts that no value sits near a decision
boundary (clamp at +-1, the filtering threshold, the 1e-30 floor) where float32 and float64 could differ.

Shapes: batch 8, embedding 16, 50 classes. Embeddings lean towards their class centres by various
amounts, as in training; sample 0 is made nearly opposite to its own centre (cos about -0.93): its ArcFace
angle theta + 0.5 exceeds pi and its p_target falls below the 1e-30 floor, so both behaviours are exercised.

Output: Tests/NNTests/Fixtures/<case>.json, {"tensors": {name: {"shape", "values"}}, "params": {...}}.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

assert torch.__version__.startswith("1.13"), torch.__version__
assert np.__version__.startswith("1.24"), np.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "NNTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(5)

BATCH, WIDTH, CLASSES, SCALE = 8, 16, 50, 64.0
FLOOR = 1e-30


def pack(t):
    """JSON of one tensor, each value the shortest text that reads back as the same float32."""
    t = t.detach().double()
    values = ",".join(repr(np.float32(v)) for v in t.reshape(-1).tolist())
    return '{"shape":%s,"values":[%s]}' % (json.dumps(list(t.shape)), values)


def write(name, tensors, params):
    path = os.path.join(OUT, name + ".json")
    body = ",".join('"%s":%s' % (k, pack(v)) for k, v in tensors.items())
    with open(path, "w") as f:
        f.write('{"tensors":{%s},"params":%s}' % (body, json.dumps(params)))
    print("wrote", os.path.relpath(path), "(%d bytes)" % os.path.getsize(path))


def f32(t):
    """float32-representable values held as float64."""
    return t.float().double()


class FlooredCrossEntropy(torch.autograd.Function):
    """arcface_torch's cross entropy on one process: value -mean log(max(p_target, 1e-30)), gradient
    (softmax - onehot) / N whatever the floor did."""

    @staticmethod
    def forward(ctx, logits, labels):
        p = torch.softmax(logits, dim=1)
        ctx.save_for_backward(p, labels)
        p_target = p.gather(1, labels.view(-1, 1))
        return -p_target.clamp_min(FLOOR).log().mean()

    @staticmethod
    def backward(ctx, grad):
        p, labels = ctx.saved_tensors
        result = p.clone()
        result[torch.arange(p.shape[0]), labels] -= 1
        return result / p.shape[0] * grad, None


def cosines(x, w):
    raw = F.linear(F.normalize(x, eps=1e-12), F.normalize(w, eps=1e-12))
    assert raw.abs().max().item() < 1 - 1e-4, "a cosine sits at the clamp"
    return raw.clamp(-1, 1)


def margin_logits(cos, labels, kind, threshold):
    """s * (margin applied to the target cos). kind: arcface_torch | arcface_exact | cosface."""
    rows = torch.arange(cos.shape[0])
    if threshold > 0:
        with torch.no_grad():
            assert ((cos - threshold).abs() > 1e-4).all(), "a cosine sits at the filtering threshold"
            dirty = (cos > threshold).double()
            dirty[rows, labels] = 0
        cos = (1 - dirty) * cos
    if kind == "arcface_torch":
        logits = cos * 1.0  # a fresh non-leaf whose data the no_grad block overwrites
        with torch.no_grad():
            angles = logits.acos()
            angles[rows, labels] += 0.5
            logits.copy_(angles.cos())
        return logits * SCALE
    target = cos[rows, labels]
    if kind == "arcface_exact":
        m = 0.5
        final = target * math.cos(m) - (1 - target * target).sqrt() * math.sin(m)
    elif kind == "cosface":
        final = target - 0.4
    else:
        raise ValueError(kind)
    return cos.index_put((rows, labels), final) * SCALE


def batch(seed):
    g = torch.Generator().manual_seed(seed)
    w = f32(torch.randn(CLASSES, WIDTH, generator=g, dtype=torch.float64) * 0.01)
    labels = torch.tensor([7, 3, 41, 3, 19, 7, 28, 0])  # repeated classes 3 and 7
    # Embeddings pulled towards their class centres by various amounts, as during training; sample 0
    # nearly opposite to its centre (cos about -0.93).
    pull = torch.tensor([-4.0, 4.0, 5.0, 6.0, 6.5, 7.0, 7.5, 8.0], dtype=torch.float64).view(-1, 1)
    noise = torch.randn(BATCH, WIDTH, generator=g, dtype=torch.float64)
    noise[0] *= 0.4
    x = pull * F.normalize(w[labels]) + noise
    return f32(x), w, labels


def loss_case(name, kind, threshold=0.0, seed=1, subset=None):
    x, w, labels = batch(seed)
    x.requires_grad_(True)
    w.requires_grad_(True)
    if subset is None:
        centres, local_labels = w, labels
    else:
        centres, local_labels = w[subset], torch.searchsorted(subset, labels)
    cos = cosines(x, centres)
    logits = margin_logits(cos, local_labels, kind, threshold)
    loss = FlooredCrossEntropy.apply(logits, local_labels)
    loss.backward()
    with torch.no_grad():
        log_p = torch.log_softmax(logits, 1).gather(1, local_labels.view(-1, 1)).view(-1)
        assert ((log_p - math.log(FLOOR)).abs() > 1e-3).all(), "a p_target sits at the floor"
        floored = int((log_p < math.log(FLOOR)).sum())
        filtered = int(((cos > threshold) & (torch.arange(cos.shape[1]) != local_labels.view(-1, 1))).sum()) \
            if threshold > 0 else 0
    assert floored >= 1 and log_p[0] < math.log(FLOOR), "sample 0 should be floored"
    tensors = {"embeddings": x, "weight": w, "cosines": cos, "logits": logits, "loss": loss.view(1),
               "grad_embeddings": x.grad, "grad_weight": w.grad}
    params = {"labels": labels.tolist(), "kind": kind, "scale": SCALE, "threshold": threshold,
              "floored_samples": floored, "filtered_logits": filtered}
    if subset is not None:
        params["subset"] = subset.tolist()
        params["remapped_labels"] = local_labels.tolist()
    write(name, tensors, params)
    print("   loss %.6f, floored samples %d, filtered logits %d, p_target %s"
          % (loss.item(), floored, filtered, " ".join("%.1e" % v for v in log_p.exp().tolist())))


def logits_case():
    """The margins alone on a crafted cos matrix [6, 7]: target cosines across (-1, 1), including
    theta + 0.5 > pi (cos < cos(pi - 0.5) = -0.8776), driven by a random upstream gradient."""
    g = torch.Generator().manual_seed(9)
    labels = torch.tensor([0, 3, 6, 2, 5, 1])
    cos = f32(torch.rand(6, 7, generator=g, dtype=torch.float64) * 1.8 - 0.9)
    targets = torch.tensor([-0.97, -0.9, -0.5, 0.0, 0.6, 0.95], dtype=torch.float64)
    cos[torch.arange(6), labels] = f32(targets)
    upstream = f32(torch.randn(6, 7, generator=g, dtype=torch.float64))
    tensors = {"cosines": cos, "upstream": upstream}
    for kind, threshold, key in [("arcface_torch", 0.0, "arcface"), ("arcface_exact", 0.0, "arcface_exact"),
                                 ("cosface", 0.0, "cosface"), ("arcface_torch", 0.3, "arcface_filter")]:
        leaf = cos.clone().requires_grad_(True)
        logits = margin_logits(leaf, labels, kind, threshold)
        (logits * upstream).sum().backward()
        tensors["logits_" + key] = logits
        tensors["grad_" + key] = leaf.grad
    write("margin_logits", tensors, {"labels": labels.tolist(), "scale": SCALE, "threshold": 0.3})


def partial_fc_subset(labels, sample_count, seed):
    """arcface_torch's choice: uniform keys, positives forced to 2, top sample_count keys, sorted."""
    g = torch.Generator().manual_seed(seed)
    keys = torch.rand(CLASSES, generator=g)
    keys[torch.unique(labels)] = 2.0
    return torch.topk(keys, k=sample_count)[1].sort()[0]


logits_case()
loss_case("margin_arcface", "arcface_torch")
loss_case("margin_arcface_exact", "arcface_exact")
loss_case("margin_cosface", "cosface")
loss_case("margin_arcface_filter", "arcface_torch", threshold=0.2)
# sample_rate 0.3: floor(0.3 * 50) = 15 rows.
_, _, fixed_labels = batch(1)
loss_case("partialfc_arcface", "arcface_torch", subset=partial_fc_subset(fixed_labels, int(0.3 * CLASSES), 11))
