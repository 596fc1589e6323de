// Weight initialisation with a seeded generator, so a model built twice with the same seed is identical.
import Foundation
import Randomness

/// The generator that initialises weights: the project's SplitMix64, so the same seed gives the same
/// parameters on every machine.
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

    /// `count` draws from N(mean, std^2) (Box-Muller).
    public mutating func normal(_ count: Int, mean: Float = 0, std: Float) -> [Float] {
        guard generator != nil else { return [Float](repeating: 0, count: count) }
        var values = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            // u1 in (0, 1] so log(u1) is finite.
            let u1 = 1 - Double.random(in: 0..<1, using: &generator!)
            let u2 = Double.random(in: 0..<1, using: &generator!)
            let radius = (-2 * Foundation.log(u1)).squareRoot()
            values[i] = mean + std * Float(radius * cos(2 * Double.pi * u2))
            if i + 1 < count { values[i + 1] = mean + std * Float(radius * sin(2 * Double.pi * u2)) }
            i += 2
        }
        return values
    }

    /// `count` draws from U(-bound, bound).
    public mutating func uniform(_ count: Int, bound: Float) -> [Float] {
        guard generator != nil else { return [Float](repeating: 0, count: count) }
        return (0..<count).map { _ in Float.random(in: -bound...bound, using: &generator!) }
    }

    /// `count` copies of `value` (zeros under `.zeros`).
    public func constant(_ count: Int, _ value: Float) -> [Float] {
        [Float](repeating: generator == nil ? 0 : value, count: count)
    }
}
