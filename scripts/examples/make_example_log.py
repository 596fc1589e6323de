#!/usr/bin/env python3
"""Writes examples/arcface_multistep.log: a SYNTHETIC training log in arcface_torch's format.

It is not a real training run. It models the shape such runs have (a loss that falls fast, then sits on a
plateau until the learning rate is decayed, with a small drop at every epoch boundary and per-step noise)
under arcface_torch's classic MultiStep schedule (LR 0.1, x0.1 at epochs 8, 12, 14 of 16), so that
`haarface replay` can show where MHLR would have decayed instead. Deterministic (seed 2404).

Model per step t: floor(lr) = 2.6 + 95 * lr; rate(lr) = 6e-4 * sqrt(lr / 0.1);
clean_t = floor + (clean_{t-1} - floor) * exp(-rate); the logged per-step loss is clean_t + N(0, 0.03 clean_t + 0.2).
Needs only NumPy: /usr/bin/python3 scripts/examples/make_example_log.py
"""
import math
import pathlib

import numpy as np

STEPS_PER_EPOCH = 1500
EPOCHS = 16
MILESTONES = [8, 12, 14]
BASE_LR = 0.1
LOG_EVERY = 10

rng = np.random.default_rng(2404)
total = STEPS_PER_EPOCH * EPOCHS
lr, loss = BASE_LR, 46.0
lines = [
    "Config: network=r50 margin_list=(1.0, 0.5, 0.0) batch_size=128 lr=0.1 num_epoch=16 (synthetic example)",
]
window = []
for step in range(1, total + 1):
    epoch = (step - 1) // STEPS_PER_EPOCH
    lr = BASE_LR * 0.1 ** sum(epoch >= m for m in MILESTONES)
    floor = 2.6 + 95.0 * lr
    rate = 6e-4 * math.sqrt(lr / 0.1)
    if step > 1 and (step - 1) % STEPS_PER_EPOCH == 0:
        loss -= 0.04 * (loss - 2.0)  # the model sees repeated images at each new epoch
    loss = floor + (loss - floor) * math.exp(-rate)
    window.append(loss + rng.normal(0.0, 0.03 * loss + 0.2))
    if step >= 2 * LOG_EVERY and step % LOG_EVERY == 0:
        hours = (total - step) * 0.4 / 3600
        lines.append(
            f"Training: 2024-03-01 10:00:00,000-Speed 320.00 samples/sec   Loss {sum(window) / len(window):.4f}   "
            f"LearningRate {lr:.6f}   Epoch: {epoch}   Global Step: {step}   Required: {hours:1.0f} hours")
        window = []
    if step % 6000 == 0:
        lines.append(f"[lfw][{step}]XNorm: 21.5")

out = pathlib.Path(__file__).resolve().parents[2] / "examples" / "arcface_multistep.log"
out.write_text("\n".join(lines) + "\n")
print(f"wrote {out} ({len(lines)} lines, {total} steps)")
