import Randomness

/// The head's stream is the project's SplitMix64 (class-centre draws, then Partial FC's class sampling).
public typealias HeadRandom = SplitMix64
