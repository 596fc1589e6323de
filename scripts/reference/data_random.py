#!/usr/bin/python3
"""The loader's random choices, written from the published generators (Vigna's splitmix64.c and
xoshiro256starstar.c) and the loader's documented derivation (Sources/FaceData/Random.swift).
Writes Tests/FaceDataTests/Fixtures/random.json. Standard library only."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from splitmix import GOLDEN, M, SplitMix64, mix  # noqa: E402


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M


class Xoshiro256StarStar:
    def __init__(self, seed):
        s = SplitMix64(seed)
        self.s = [s.next() for _ in range(4)]

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 17) & M
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self, bound):
        threshold = ((1 << 64) - bound) % bound
        while True:
            v = self.next()
            if v >= threshold:
                return v % bound


def key(seed, epoch, stream):
    return mix(seed ^ mix((epoch * 2 + stream) & M))


def permutation(seed, count, epoch):
    order = list(range(count))
    g = Xoshiro256StarStar(key(seed, epoch, 0))
    for position in range(count - 1, 0, -1):
        other = g.uniform(position + 1)
        order[position], order[other] = order[other], order[position]
    return order


def flips(seed, epoch, position):
    return mix((key(seed, epoch, 1) + position * GOLDEN) & M) >> 63 == 1


if __name__ == "__main__":
    s = SplitMix64(1234567)
    x = Xoshiro256StarStar(42)
    out = {
        "splitmix64_state_1234567": [str(s.next()) for _ in range(5)],
        "xoshiro_seed_42": [str(x.next()) for _ in range(5)],
        "permutation_seed_42_count_10": [permutation(42, 10, e) for e in range(3)],
        "flips_seed_42_epoch_0": [flips(42, 0, p) for p in range(32)],
    }
    path = os.path.join(os.path.dirname(__file__), "../../Tests/FaceDataTests/Fixtures/random.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", path)
    print(json.dumps(out))
