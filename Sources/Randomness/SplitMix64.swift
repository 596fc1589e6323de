import Foundation

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014, as in
/// Vigna's reference splitmix64.c): state += 0x9E3779B97F4A7C15, output = a bijective mix of the state.
///
/// HaarFace's one seeded generator (weight initialisation, class centres, Partial FC's sampling, the loader's
/// order and flips, synthetic faces). Ours rather than the standard library's, whose algorithms may change
/// between Swift versions: a seed gives the same bytes everywhere, and the 64-bit state is saved in
/// checkpoints for an exact resume.
public struct SplitMix64: RandomNumberGenerator, Codable, Equatable, Sendable {
    /// The whole state; restoring it restores the stream.
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// SplitMix64's output function: a bijective 64-bit hash (also used to derive keyed streams).
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in 0..<bound: draws below 2^64 mod bound are rejected, so there is no modulo bias.
    public mutating func uniform(below bound: Int) -> Int {
        precondition(bound > 0, "uniform(below:) needs a positive bound")
        let range = UInt64(bound)
        let rejected = (0 &- range) % range   // 2^64 mod range
        while true {
            let value = next()
            if value >= rejected { return Int(value % range) }
        }
    }

    /// A uniform Double in [0, 1) from the top 53 bits of one draw.
    public mutating func unitInterval() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A uniform Float in [0, 1) from the top 24 bits of one draw (a multiple of 2^-24).
    public mutating func unitIntervalFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// `count` draws from U(lower, upper): lower + (upper - lower) * u in float32, u from `unitIntervalFloat`.
    public mutating func uniform(_ count: Int, lower: Float, upper: Float) -> [Float] {
        let width = upper - lower
        return (0..<count).map { _ in lower + width * unitIntervalFloat() }
    }

    /// `count` draws from N(mean, std^2) by the Box-Muller transform (two normals per pair of uniforms).
    public mutating func normal(_ count: Int, mean: Float = 0, std: Float) -> [Float] {
        var values = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let u1 = 1 - unitInterval()   // (0, 1]: log(u1) is finite
            let u2 = unitInterval()
            let radius = (-2 * Foundation.log(u1)).squareRoot()
            values[i] = mean + std * Float(radius * Foundation.cos(2 * Double.pi * u2))
            if i + 1 < count { values[i + 1] = mean + std * Float(radius * Foundation.sin(2 * Double.pi * u2)) }
            i += 2
        }
        return values
    }
}
