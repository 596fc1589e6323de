import Randomness
/// Draws for the synthetic-identity generator from SplitMix64 (Random.swift).
///
/// The generator uses SplitMix64 instead of the system generator so that a seed gives the same
/// bytes on every run and every thread count: each identity and each image draws from its own stream,
/// derived from the seed and the item's keys with `derived(_:_:)`, so no stream depends on the order in
/// which threads reach it.
extension SplitMix64 {
    /// A stream keyed by `seed` and `keys` (for example a purpose tag, an identity and an image index).
    /// Different key lists give streams that are unrelated for practical purposes.
    public static func derived(_ seed: UInt64, _ keys: UInt64...) -> SplitMix64 {
        var hash = mix(seed)
        for key in keys {
            hash = mix(hash ^ mix(key &+ goldenGamma))
        }
        return SplitMix64(state: hash)
    }

    /// Uniform in [0, 1), from the top 24 bits (every such Float is exactly representable).
    public mutating func unit() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [lower, upper).
    public mutating func uniform(_ lower: Float, _ upper: Float) -> Float {
        lower + (upper - lower) * unit()
    }

    /// Uniform in [-1, 1).
    public mutating func symmetric() -> Float {
        unit() * 2 - 1
    }

    /// Uniform in 0..<bound (bound > 0), by Lemire's multiply-shift; the bias is below 2^-32 for the
    /// bounds used here and does not matter for rendering.
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "below(\(bound)) needs a positive bound")
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// True with probability `probability`.
    public mutating func chance(_ probability: Float) -> Bool {
        unit() < probability
    }

    static let goldenGamma: UInt64 = 0x9E37_79B9_7F4A_7C15
}
