#!/usr/bin/python3
"""Learning-rate trajectories of PyTorch schedulers, for Tests/MHLRTests/SchedulerFixtureTests.swift.

Pinned to Debian's python3-torch 1.13 (run with /usr/bin/python3). Writes
Tests/MHLRTests/Fixtures/torch_schedulers.json: for every case, lrs[k] is the optimizer LR after k scheduler
steps, i.e. the LR of 1-based training step k + 1 (lrs[0] is the LR after the constructor).

Definitions (the Swift schedulers follow exactly these):
- PolynomialLRWarmup: arcface_torch's scheduler written from shared/reference/mhlr.md as an _LRScheduler
  subclass: l = last_epoch; base for l = 0 (constructor step), base*l/w for 1 <= l <= w,
  base*(1 - (l-w)/(t-w))**power for w < l <= t, and the LR of step t (0) after t.
- MultiStepLR, ReduceLROnPlateau (mode 'min'): torch.optim.lr_scheduler as shipped.
- CosineAnnealingLR with linear warm-up: torch.optim.lr_scheduler.LambdaLR with the factor
  cosine_factor() below; the warm-up-free case is also generated with torch's own CosineAnnealingLR
  (chainable recursion) to show the closed form agrees with it.
- Warmup-stable-decay (Hagele et al. 2024): LambdaLR with wsd_factor() below: the cosine warm-up, the base
  LR, then a linear or 1-sqrt cool-down over the last round(fraction * total) steps to minimum_lr.
"""
import json
import math
import os
import random

import torch

assert torch.__version__.startswith("1.13"), torch.__version__

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "MHLRTests", "Fixtures", "torch_schedulers.json")


class PolynomialLRWarmup(torch.optim.lr_scheduler._LRScheduler):
    def __init__(self, optimizer, warmup_iters, total_iters, power=1.0):
        self.warmup_iters = warmup_iters
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer)

    def get_lr(self):
        l, w, t = self.last_epoch, self.warmup_iters, self.total_iters
        if l == 0 or l > t:
            return [group["lr"] for group in self.optimizer.param_groups]
        if l <= w:
            return [base * l / w for base in self.base_lrs]
        return [base * (1.0 - (l - w) / (t - w)) ** self.power for base in self.base_lrs]


def cosine_factor(base_lr, total, warmup, minimum_lr):
    ratio = minimum_lr / base_lr

    def factor(l):
        if l < warmup:
            return (l + 1) / warmup
        progress = min(l - warmup, total - warmup) / (total - warmup)
        return ratio + (1 - ratio) * (1 + math.cos(math.pi * progress)) / 2

    return factor


def wsd_factor(base_lr, total, warmup, fraction, shape, minimum_lr):
    cooldown = max(1, round(fraction * total))
    start = total - cooldown
    ratio = minimum_lr / base_lr

    def factor(l):
        if l < warmup:
            return (l + 1) / warmup
        if l < start:
            return 1.0
        p = min(l - start, cooldown) / cooldown
        return ratio + (1 - ratio) * (1 - p if shape == "linear" else 1 - math.sqrt(p))

    return factor


def optimizer(base_lr):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)


def trajectory(make, steps, losses=None):
    opt = optimizer(1.0)
    scheduler = make(opt)
    lrs = [opt.param_groups[0]["lr"]]
    for k in range(steps):
        opt.step()  # no gradients: changes nothing, but keeps torch's call-order check quiet
        if losses is None:
            scheduler.step()
        else:
            scheduler.step(losses[k])
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


def with_base(base_lr, build):
    def make(opt):
        opt.param_groups[0]["lr"] = base_lr
        opt.param_groups[0]["initial_lr"] = base_lr
        return build(opt)
    return make


def plateau_losses():
    """Falls, plateaus, falls again, with noise: exercises bad-step counts, cooldown and min_lr."""
    rng = random.Random(20240417)
    losses = []
    for k in range(160):
        if k < 40:
            level = 5.0 - 0.08 * k
        elif k < 90:
            level = 1.8
        elif k < 110:
            level = 1.8 - 0.03 * (k - 90)
        else:
            level = 1.2
        losses.append(round(level + rng.uniform(-0.02, 0.02), 6))
    return losses


def main():
    cases = []

    def add(name, kind, params, lrs, losses=None):
        case = {"name": name, "scheduler": kind, "params": params, "lrs": lrs}
        if losses is not None:
            case["losses"] = losses
        cases.append(case)

    S = torch.optim.lr_scheduler
    for base, w, t, p, steps in [(0.1, 5, 40, 1.0, 50), (0.02, 0, 30, 2.0, 35), (0.1, 3, 4, 1.0, 6)]:
        add(f"polynomial base={base} warmup={w} total={t} power={p}", "polynomial",
            {"baseLR": base, "warmupSteps": w, "totalSteps": t, "power": p},
            trajectory(with_base(base, lambda o: PolynomialLRWarmup(o, w, t, p)), steps))
    for base, milestones, gamma, steps in [(0.1, [3, 7, 15], 0.1, 20), (0.02, [1, 2, 10], 0.5, 12)]:
        add(f"multistep base={base} milestones={milestones} gamma={gamma}", "multiStep",
            {"baseLR": base, "milestones": milestones, "gamma": gamma},
            trajectory(with_base(base, lambda o: S.MultiStepLR(o, milestones, gamma)), steps))
    for base, t, w, minimum, steps in [(0.1, 40, 5, 1e-3, 50), (0.1, 40, 0, 0.0, 45), (0.02, 25, 10, 0.0, 30)]:
        add(f"cosine LambdaLR base={base} total={t} warmup={w} min={minimum}", "cosine",
            {"baseLR": base, "totalSteps": t, "warmupSteps": w, "minimumLR": minimum},
            trajectory(with_base(base, lambda o: S.LambdaLR(o, cosine_factor(base, t, w, minimum))), steps))
    for base, t, minimum in [(0.1, 40, 0.0), (0.1, 64, 1e-3)]:
        add(f"cosine torch CosineAnnealingLR base={base} T_max={t} eta_min={minimum}", "cosine",
            {"baseLR": base, "totalSteps": t, "warmupSteps": 0, "minimumLR": minimum},
            trajectory(with_base(base, lambda o: S.CosineAnnealingLR(o, t, minimum)), t))
    for base, t, w, fraction, shape, minimum, steps in [(0.1, 50, 5, 0.2, "linear", 0.0, 55),
                                                        (0.1, 40, 0, 0.3, "1-sqrt", 1e-3, 45),
                                                        (0.05, 30, 4, 1.0 / 3, "1-sqrt", 0.0, 31)]:
        add(f"wsd LambdaLR base={base} total={t} warmup={w} cooldown={fraction} {shape} min={minimum}", "wsd",
            {"baseLR": base, "totalSteps": t, "warmupSteps": w, "cooldownFraction": fraction,
             "cooldownShape": shape, "minimumLR": minimum},
            trajectory(with_base(base, lambda o: S.LambdaLR(o, wsd_factor(base, t, w, fraction, shape, minimum))), steps))
    losses = plateau_losses()
    for params in [
        {"factor": 0.5, "patience": 3, "threshold": 1e-4, "thresholdMode": "rel", "cooldown": 2,
         "minimumLR": 1e-3, "eps": 1e-8},
        {"factor": 0.1, "patience": 10, "threshold": 1e-4, "thresholdMode": "rel", "cooldown": 0,
         "minimumLR": 0.0, "eps": 1e-8},
        {"factor": 0.3, "patience": 2, "threshold": 0.05, "thresholdMode": "abs", "cooldown": 4,
         "minimumLR": 0.0, "eps": 1e-8},
        # eps larger than the last reductions: those are skipped, as in torch.
        {"factor": 0.5, "patience": 1, "threshold": 0.01, "thresholdMode": "abs", "cooldown": 1,
         "minimumLR": 0.0, "eps": 2e-3},
    ]:
        base = 0.1
        params = {"baseLR": base, **params}
        add(f"plateau {params}", "plateau", params,
            trajectory(with_base(base, lambda o: S.ReduceLROnPlateau(
                o, mode="min", factor=params["factor"], patience=params["patience"],
                threshold=params["threshold"], threshold_mode=params["thresholdMode"],
                cooldown=params["cooldown"], min_lr=params["minimumLR"], eps=params["eps"])),
                len(losses), losses),
            losses)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"generator": "scripts/reference/scheduler_fixtures.py", "torch": torch.__version__,
                   "cases": cases}, f, indent=1)
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
