// Weight initialisation with a seeded generator, so a model built twice with the same seed is identical.
import Randomness

/// The generator that initialises weights: the project's SplitMix64, whose own draws (`normal`, `uniform`)
/// are used rather than the standard library's `random(in:using:)`, whose algorithm is the toolchain's: the
/// same seed gives the same parameters on every machine and with every Swift version.
public typealias SeededGenerator = SplitMix64

/// How a model's parameters start.
public enum Initialization {
    /// The PyTorch reference's distributions (see each model), drawn from a seeded generator.
    case random(seed: UInt64)
    /// Zeros everywhere (BN weights and PReLU slopes too): for a model whose state is loaded next
    /// from a checkpoint, so no time goes into drawing numbers that are overwritten.
    case zeros
}

/// Draws initial values; with `.zeros` every draw returns zeros.
public struct Initializer {
    private var generator: SeededGenerator?

    public init(_ initialization: Initialization) {
        switch initialization {
        case .random(let seed): generator = SeededGenerator(seed: seed)
        case .zeros: generator = nil
        }
    }

    /// `count` draws from N(mean, std^2) (the generator's Box-Muller).
    public mutating func normal(_ count: Int, mean: Float = 0, std: Float) -> [Float] {
        guard generator != nil else { return [Float](repeating: 0, count: count) }
        return generator!.normal(count, mean: mean, std: std)
    }

    /// `count` draws from U(-bound, bound).
    public mutating func uniform(_ count: Int, bound: Float) -> [Float] {
        guard generator != nil else { return [Float](repeating: 0, count: count) }
        return generator!.uniform(count, lower: -bound, upper: bound)
    }

    /// `count` copies of `value` (zeros under `.zeros`).
    public func constant(_ count: Int, _ value: Float) -> [Float] {
        [Float](repeating: generator == nil ? 0 : value, count: count)
    }
}
