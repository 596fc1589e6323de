import Randomness

/// xoshiro256** 1.0 (Blackman and Vigna, 2018), its state filled by four SplitMix64 outputs of the seed.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var seeder = SplitMix64(state: seed)
        s0 = seeder.next(); s1 = seeder.next(); s2 = seeder.next(); s3 = seeder.next()
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A uniform integer in 0..<bound, without modulo bias: outputs below 2^64 mod bound are rejected.
    public mutating func uniform(below bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        let threshold = (0 &- bound) % bound
        while true {
            let value = next()
            if value >= threshold { return value % bound }
        }
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// The loader's random choices, each a pure function of (seed, epoch, position), so that any epoch and
/// position can be reproduced without replaying the ones before it.
public struct LoaderRandomness: Sendable {
    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// Key of one stream of epoch `epoch`: 0 = order, 1 = flips.
    func key(epoch: Int, stream: UInt64) -> UInt64 {
        SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(epoch) &* 2 &+ stream))
    }

    /// The order of `count` images in `epoch`: Fisher-Yates (from the last position down) driven by
    /// xoshiro256** seeded with the epoch's key.
    public func permutation(count: Int, epoch: Int) -> [Int32] {
        var order = (0..<Int32(count)).map { $0 }
        var generator = Xoshiro256StarStar(seed: key(epoch: epoch, stream: 0))
        var position = count - 1
        while position > 0 {
            let other = Int(generator.uniform(below: UInt64(position + 1)))
            order.swapAt(position, other)
            position -= 1
        }
        return order
    }

    /// Whether the image at `position` of `epoch`'s order is flipped (probability 1/2): the top bit of
    /// mix(flip key + position * golden ratio), a counter-based draw.
    public func flips(epoch: Int, position: Int) -> Bool {
        SplitMix64.mix(key(epoch: epoch, stream: 1) &+ UInt64(position) &* 0x9E37_79B9_7F4A_7C15) >> 63 == 1
    }
}
