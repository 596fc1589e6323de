#!/usr/bin/python3
"""Schedule-free SGD trajectories for Tests/NNTests/ScheduleFreeSGDTests.swift.

Pinned to Debian's python3-torch 1.13 (run with /usr/bin/python3). Writes
Tests/NNTests/Fixtures/schedulefree_sgd.json.

The update is the form of the authors' reference implementation (facebookresearch/schedule_free,
SGDScheduleFree.step, weight_lr_power = 2, r = 0), which keeps y (the parameter) and z and never x:
    weight_sum += lr^2;  c = lr^2 / weight_sum
    g = grad + weight_decay * y
    y <- y + c (z - y) + lr (beta (1 - c) - 1) g        (y.lerp_(z, c); y.add_(g, alpha=...))
    z <- z - lr g
and recovers the evaluation point as x = y + (1 - 1/beta) (z - y) (their train -> eval switch).
HaarFace's ScheduleFreeSGD keeps z and x instead, so agreement checks the algebra, not a copy of it.
The learning rates warm up linearly (the LR of a scheduler fed in from outside), and one parameter gets no
gradient in one step (skipped, as torch skips grad None).
"""
import json
import os

import torch

assert torch.__version__.startswith("1.13"), torch.__version__

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "NNTests", "Fixtures", "schedulefree_sgd.json")

GROUPS = [  # name -> shape, per group: beta, weight decay
    {"beta": 0.9, "weight_decay": 5e-4, "params": {"a": 5, "b": 3}},
    {"beta": 0.5, "weight_decay": 0.0, "params": {"c": 4}},
]
STEPS = 7
BASE_LR = 0.1
WARMUP = 3


def main():
    generator = torch.Generator().manual_seed(20240528)
    params, states = {}, {}
    for group in GROUPS:
        for name, size in group["params"].items():
            params[name] = torch.randn(size, generator=generator, dtype=torch.float32)
            states[name] = {"z": params[name].clone()}
    initial = {name: p.tolist() for name, p in params.items()}
    weight_sums = [0.0 for _ in GROUPS]
    steps = []
    for k in range(STEPS):
        lr = BASE_LR * min(1.0, (k + 1) / WARMUP)
        record = {"lr": lr, "grads": {}, "y": {}, "z": {}, "x": {}}
        for index, group in enumerate(GROUPS):
            weight_sums[index] += lr ** 2
            c = lr ** 2 / weight_sums[index]
            beta = group["beta"]
            for name in group["params"]:
                if name == "b" and k == 2:
                    continue  # no gradient this step
                y, z = params[name], states[name]["z"]
                grad = torch.randn(y.shape, generator=generator, dtype=torch.float32)
                record["grads"][name] = grad.tolist()
                g = grad.clone()
                if group["weight_decay"] != 0:
                    g.add_(y, alpha=group["weight_decay"])
                y.lerp_(end=z, weight=c)
                y.add_(g, alpha=lr * (beta * (1 - c) - 1))
                z.sub_(g, alpha=lr)
        for group in GROUPS:
            beta = group["beta"]
            for name in group["params"]:
                y, z = params[name], states[name]["z"]
                record["y"][name] = y.tolist()
                record["z"][name] = z.tolist()
                record["x"][name] = (y + (1 - 1 / beta) * (z - y)).tolist()
        steps.append(record)
    with open(OUT, "w") as f:
        json.dump({"generator": "scripts/reference/schedulefree_fixture.py", "torch": torch.__version__,
                   "groups": GROUPS, "initial": initial, "steps": steps}, f, indent=1)
    print(f"wrote {STEPS} steps to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
