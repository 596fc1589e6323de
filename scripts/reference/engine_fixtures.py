#!/usr/bin/python3
"""Writes the Engine op fixtures: inputs, outputs and gradients of each op on small shapes.

Pinned to Debian's python3-torch 1.13 / numpy 1.24 (run with /usr/bin/python3). Inputs are float32
values; the reference results are computed in float64 from them (the engine computes in float32, so its
error against these values is its own rounding only). Each op's backward is driven by a fixed random
upstream gradient `grad_output` (loss = sum(output * grad_output)).

Output: Tests/EngineTests/Fixtures/<case>.json, each {"tensors": {name: {"shape": [...], "values": [...]}},
"params": {...}}, values in PyTorch's contiguous order.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

assert torch.__version__.startswith("1.13"), torch.__version__
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "EngineTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(20261129)


def f32(*shape, scale=1.0):
    """Random float32-representable values, held as float64 for the reference computation."""
    return (torch.randn(*shape) * scale).float().double()


def leaf(t):
    return t.clone().requires_grad_(True)


def pack(t):
    """JSON of one tensor, each value the shortest text that reads back as the same float32."""
    t = t.detach().double()
    values = ",".join(repr(np.float32(v)) for v in t.reshape(-1).tolist())
    return '{"shape":%s,"values":[%s]}' % (json.dumps(list(t.shape)), values)


def write(name, tensors, params=None):
    path = os.path.join(OUT, name + ".json")
    body = ",".join('"%s":%s' % (k, pack(v)) for k, v in tensors.items())
    with open(path, "w") as f:
        f.write('{"tensors":{%s},"params":%s}' % (body, json.dumps(params or {})))
    print("wrote", os.path.relpath(path), "(%d bytes)" % os.path.getsize(path))


def backward(output, **inputs):
    g = f32(*output.shape)
    (output * g).sum().backward()
    result = {"output": output, "grad_output": g}
    for k, v in inputs.items():
        if v.grad is not None:
            result["grad_" + k] = v.grad
    return result


def conv_case(name, n, c, h, w, out, k, stride, padding, groups, bias, input_grad=True):
    x = f32(n, c, h, w)
    x = leaf(x) if input_grad else x
    wt = leaf(f32(out, c // groups, k, k, scale=0.3))
    b = leaf(f32(out)) if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=padding, groups=groups)
    tensors = {"input": x, "weight": wt}
    if bias:
        tensors["bias"] = b
    tensors.update(backward(y, input=x, weight=wt, **({"bias": b} if bias else {})))
    write(name, tensors, {"stride": stride, "padding": padding, "groups": groups})


conv_case("conv_s2_bias", 2, 16, 7, 7, 16, 3, 2, 1, 1, True)
conv_case("conv_groups4", 2, 8, 5, 5, 8, 3, 1, 1, 4, False)
conv_case("conv_depthwise_s2", 2, 32, 6, 6, 32, 3, 2, 1, 32, False)
conv_case("conv_1x1_s2", 2, 16, 6, 6, 32, 1, 2, 0, 1, False)
conv_case("conv_stem", 2, 3, 8, 8, 16, 3, 1, 1, 1, False, input_grad=False)


def bn_case(name, shape, training, affine=True, freeze_weight=False):
    c = shape[1]
    x = leaf(f32(*shape, scale=2.0) + 0.5)
    wt = f32(c) * 0.5 + 1.0
    wt = wt if freeze_weight else leaf(wt)
    b = leaf(f32(c))
    rm = f32(c) * 0.1
    rv = f32(c).abs() + 0.5
    tensors = {"input": x, "weight": wt, "bias": b, "running_mean": rm.clone(), "running_var": rv.clone()}
    y = F.batch_norm(x, rm, rv, wt, b, training=training, momentum=0.1, eps=1e-5)
    tensors.update(backward(y, input=x, weight=wt, bias=b))
    tensors["running_mean_after"] = rm
    tensors["running_var_after"] = rv
    write(name, tensors, {"training": training, "freeze_weight": freeze_weight})


bn_case("bn2d_train", (4, 16, 3, 3), True)
bn_case("bn2d_eval", (3, 16, 2, 2), False)
bn_case("bn2d_train_c8", (2, 8, 3, 3), True)
bn_case("bn1d_train_frozen", (6, 8), True, freeze_weight=True)
bn_case("bn1d_eval", (5, 8), False)

x = leaf(f32(2, 16, 4, 4))
wt = leaf(torch.rand(16).double() * 0.5)
tensors = {"input": x, "weight": wt}
tensors.update(backward(F.prelu(x, wt), input=x, weight=wt))
write("prelu", tensors)

x = leaf(f32(3, 10))
wt = leaf(f32(4, 10, scale=0.3))
b = leaf(f32(4))
tensors = {"input": x, "weight": wt, "bias": b}
tensors.update(backward(F.linear(x, wt, b), input=x, weight=wt, bias=b))
write("linear", tensors)

for op_name, op in [("add", torch.add), ("subtract", torch.sub), ("multiply", torch.mul), ("divide", torch.div)]:
    a = leaf(f32(2, 3, 4))
    b = leaf(f32(1, 3, 1).abs() + 0.5)
    tensors = {"a": a, "b": b}
    tensors.update(backward(op(a, b), a=a, b=b))
    write("binary_" + op_name, tensors)

a = leaf(f32(2, 16, 3, 3))
b = leaf(f32(2, 16, 3, 3))
tensors = {"a": a, "b": b}
tensors.update(backward(a + b, a=a, b=b))
write("add_residual", tensors)

# Head and loss pieces on plain 2-D tensors.
x = leaf(f32(4, 6))
tensors = {"input": x}
tensors.update(backward(F.normalize(x, dim=1, eps=1e-12), input=x))
write("normalize_rows", tensors)

a = leaf(f32(3, 5))
b = leaf(f32(4, 5))
tensors = {"a": a, "b": b}
tensors.update(backward(a @ b.t(), a=a, b=b))
write("matmul_transposed", tensors)

a = leaf(f32(3, 5))
b = leaf(f32(5, 2))
tensors = {"a": a, "b": b}
tensors.update(backward(a @ b, a=a, b=b))
write("matmul", tensors)

x = leaf(f32(3, 4))
tensors = {"input": x}
tensors.update(backward(torch.clamp(x, -0.5, 0.7), input=x))
write("clamp", tensors, {"min": -0.5, "max": 0.7})

x = leaf(torch.rand(3, 4).double() * 1.8 - 0.9)
tensors = {"input": x}
tensors.update(backward(torch.acos(x), input=x))
write("acos", tensors)

x = leaf(f32(3, 4))
tensors = {"input": x}
tensors.update(backward(torch.cos(x), input=x))
write("cos", tensors)

x = leaf(f32(3, 7, scale=3.0))
tensors = {"input": x}
tensors.update(backward(F.log_softmax(x, dim=1), input=x))
write("log_softmax", tensors)

x = leaf(f32(4, 6, scale=3.0))
labels = torch.tensor([1, 0, 5, 3])
loss = F.cross_entropy(x, labels)
loss.backward()
write("cross_entropy", {"input": x, "labels": labels.double(), "output": loss.reshape(1), "grad_input": x.grad})

x = leaf(f32(4, 5))
idx = torch.tensor([2, 0, 4, 2])
tensors = {"input": x, "indices": idx.double()}
tensors.update(backward(x.gather(1, idx[:, None])[:, 0], input=x))
write("gather_columns", tensors)

x = leaf(f32(4, 5))
v = leaf(f32(4))
y = x.clone()
y = y.scatter(1, idx[:, None], v[:, None])
tensors = {"input": x, "indices": idx.double(), "values": v}
tensors.update(backward(y, input=x, values=v))
write("scatter_columns", tensors)

x = leaf(f32(5, 3))
rows = torch.tensor([4, 1, 1])
tensors = {"input": x, "indices": rows.double()}
tensors.update(backward(x[rows], input=x))
write("gather_rows", tensors)

x = leaf(f32(3, 4))
tensors = {"input": x}
tensors.update(backward(x.sum().reshape(1), input=x))
write("sum", tensors)
x = leaf(f32(3, 4))
tensors = {"input": x}
tensors.update(backward(x.mean().reshape(1), input=x))
write("mean", tensors)
x = leaf(f32(3, 4))
tensors = {"input": x}
tensors.update(backward(x.sum(dim=1), input=x))
write("sum_rows", tensors)

# One IResNet-style block (BN -> conv -> BN -> PReLU -> conv(stride 2) -> BN, plus a 1x1 stride-2 shortcut
# conv + BN), forward and backward in training mode: every op in the blocked layout together.
torch.manual_seed(7)
c_in, c_out = 16, 16
x = leaf(f32(2, c_in, 6, 6))
p = {
    "bn1.weight": f32(c_in) * 0.1 + 1, "bn1.bias": f32(c_in) * 0.1,
    "conv1.weight": f32(c_out, c_in, 3, 3, scale=0.1),
    "bn2.weight": f32(c_out) * 0.1 + 1, "bn2.bias": f32(c_out) * 0.1,
    "prelu.weight": torch.full((c_out,), 0.25, dtype=torch.float64),
    "conv2.weight": f32(c_out, c_out, 3, 3, scale=0.1),
    "bn3.weight": f32(c_out) * 0.1 + 1, "bn3.bias": f32(c_out) * 0.1,
    "downsample.0.weight": f32(c_out, c_in, 1, 1, scale=0.1),
    "downsample.1.weight": f32(c_out) * 0.1 + 1, "downsample.1.bias": f32(c_out) * 0.1,
}
p = {k: leaf(v) for k, v in p.items()}


def bn(t, prefix):
    c = t.shape[1]
    return F.batch_norm(t, torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64),
                        p[prefix + ".weight"], p[prefix + ".bias"], training=True)


out = bn(x, "bn1")
out = F.conv2d(out, p["conv1.weight"], padding=1)
out = bn(out, "bn2")
out = F.prelu(out, p["prelu.weight"])
out = F.conv2d(out, p["conv2.weight"], stride=2, padding=1)
out = bn(out, "bn3")
shortcut = bn(F.conv2d(x, p["downsample.0.weight"], stride=2), "downsample.1")
y = out + shortcut
tensors = {"input": x}
tensors.update({k: v for k, v in p.items()})
tensors.update(backward(y, input=x, **{k.replace(".", "_"): v for k, v in p.items()}))
write("iresnet_block", tensors)

# MobileFaceNet's unusual convolutions: 2 channels per group (groups=16 over 32 channels; the engine
# runs it in nhwc) and a 7x7 depthwise without padding down to 1x1 (its weight gradient also in nhwc).
torch.manual_seed(11)
conv_case("conv_groups16_2per_group", 2, 32, 6, 6, 32, 3, 1, 1, 16, False)
conv_case("conv_depthwise_7x7", 2, 16, 7, 7, 16, 7, 1, 0, 16, False)

# 3x3 stride 1, the shape of IResNet's trunk convolutions: the engine computes these with Winograd by
# default and with direct convolution on request; 9x9 leaves partial 4x4 output tiles at the edges.
torch.manual_seed(12)
conv_case("conv_3x3_s1", 2, 16, 9, 9, 32, 3, 1, 1, 1, False)
