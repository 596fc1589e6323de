"""SplitMix64 as Vigna's published splitmix64.c defines it (the generator behind Sources/Randomness), shared by
the reference scripts that reproduce HaarFace's seeded draws. Standard library only."""

M = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)


class SplitMix64:
    def __init__(self, state):
        self.state = state

    def next(self):
        self.state = (self.state + GOLDEN) & M
        return mix(self.state)
