#!/usr/bin/python3
"""The first values HaarFace's weight initialisation and dropout draw, written from the published
SplitMix64 (Vigna's splitmix64.c) and the draws of Sources/Randomness/SplitMix64.swift, with float32
arithmetic where the Swift is float32 (numpy 1.24 float32 scalars round every operation as Swift's Float does).
Writes Tests/NNTests/Fixtures/init_random.json; NNTests' RandomDrawTests pin the Swift against it, so a
toolchain change cannot alter initial weights or dropout masks silently."""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from splitmix import SplitMix64 as Vigna  # noqa: E402

f32 = np.float32


class SplitMix64(Vigna):
    """The draws of Sources/Randomness/SplitMix64.swift on top of the generator."""

    def unit_interval(self):
        """Top 53 bits * 2^-53: a float64 in [0, 1)."""
        return (self.next() >> 11) * 2.0 ** -53

    def unit_interval_float(self):
        """Top 24 bits * 2^-24: a float32 in [0, 1)."""
        return f32((self.next() >> 40) * 2.0 ** -24)

    def uniform(self, count, lower, upper):
        lower, upper = f32(lower), f32(upper)
        width = f32(upper - lower)
        return [f32(lower + f32(width * self.unit_interval_float())) for _ in range(count)]

    def normal(self, count, mean, std):
        """Box-Muller in float64, each value rounded to float32, then mean + std * value in float32."""
        mean, std = f32(mean), f32(std)
        values = []
        while len(values) < count:
            u1 = 1 - self.unit_interval()
            u2 = self.unit_interval()
            radius = math.sqrt(-2 * math.log(u1))
            values.append(f32(mean + f32(std * f32(radius * math.cos(2 * math.pi * u2)))))
            if len(values) < count:
                values.append(f32(mean + f32(std * f32(radius * math.sin(2 * math.pi * u2)))))
        return values


def floats(values):
    return [float(v) for v in values]


def main():
    out = {}
    g = SplitMix64(42)
    # As strings (repr: the shortest exact form), which Swift's Double(String) reads back exactly.
    out["unit_interval_seed42"] = [repr(g.unit_interval()) for _ in range(4)]
    g = SplitMix64(42)
    out["unit_interval_float_seed42"] = floats(g.unit_interval_float() for _ in range(4))
    out["normal_seed3_std0.1"] = floats(SplitMix64(3).normal(5, 0, 0.1))
    out["uniform_seed4_bound0.25"] = floats(SplitMix64(4).uniform(5, -0.25, 0.25))

    # Linear(inFeatures: 3, outFeatures: 2) from Initializer(.random(seed: 5)): PyTorch's default, weight then
    # bias from U(-1/sqrt(3), 1/sqrt(3)) with the bound computed in float32.
    g = SplitMix64(5)
    bound = f32(f32(1) / np.sqrt(f32(3)))
    out["linear_3_2_seed5"] = {"weight": floats(g.uniform(6, -bound, bound)), "bias": floats(g.uniform(2, -bound, bound))}
    # Conv2d(2 -> 2, 3x3) with IResNet's N(0, 0.1^2) from Initializer(.random(seed: 6)): its first 6 values.
    out["conv_normal_seed6_std0.1_first6"] = floats(SplitMix64(6).normal(36, 0, 0.1)[:6])

    # dropout(probability 0.25) on 12 elements with SplitMix64(state: 7): 0 where the draw is below p,
    # else 1 / (1 - p) (in float32).
    g = SplitMix64(7)
    p = f32(0.25)
    keep = f32(f32(1) / f32(f32(1) - p))
    out["dropout_mask_state7_p0.25"] = floats(f32(0) if g.unit_interval_float() < p else keep for _ in range(12))

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../Tests/NNTests/Fixtures/init_random.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
