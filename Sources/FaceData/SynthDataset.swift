import Randomness
import Dispatch
import Foundation

/// A synthetic-identity setting that cannot be generated; the message names the setting, what it needs
/// and what it got.
public struct SynthError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The settings of a synthetic face set: training identities, held-out verification pairs, difficulty.
public struct SynthConfig: Sendable, Equatable, Codable {
    /// Training identities (classes 0..<identities).
    public var identities: Int
    public var imagesPerIdentity: Int
    /// Width and height of every image, in pixels.
    public var imageSize: Int
    public var seed: UInt64
    /// Verification pairs over held-out identities: 0, or a positive multiple of 20 so that each of the
    /// 10 folds holds as many same-identity pairs as different-identity pairs.
    public var pairs: Int
    /// Held-out identities the pairs draw from; nil: pairs / 2 (at least 2).
    public var pairIdentities: Int?
    /// Scales nuisance strength (pose, light, expression, occlusion, blur, noise, JPEG quality) and how
    /// alike identities are. 0: frontal clean faces of very different people; 1: the default; up to 3.
    public var difficulty: Double

    public init(identities: Int = 200, imagesPerIdentity: Int = 40, imageSize: Int = 112, seed: UInt64 = 0,
                pairs: Int = 1000, pairIdentities: Int? = nil, difficulty: Double = 1) {
        self.identities = identities
        self.imagesPerIdentity = imagesPerIdentity
        self.imageSize = imageSize
        self.seed = seed
        self.pairs = pairs
        self.pairIdentities = pairIdentities
        self.difficulty = difficulty
    }

    /// The held-out identity count actually used.
    public var heldOutIdentities: Int { pairs == 0 ? 0 : (pairIdentities ?? max(2, pairs / 2)) }

    /// How far identity parameters stray from the population mean (1 at the default difficulty).
    public var identitySpread: Float { Float(max(0.25, 1.5 - 0.5 * difficulty)) }

    /// Throws when a setting is out of range, naming the flag a user would set.
    public func validate() throws {
        guard identities >= 1 else {
            throw SynthError("--identities must be at least 1; got \(identities)")
        }
        guard imagesPerIdentity >= 1 else {
            throw SynthError("--images-per-identity must be at least 1; got \(imagesPerIdentity)")
        }
        guard (16...1024).contains(imageSize) else {
            throw SynthError("--image-size must be between 16 and 1024 pixels; got \(imageSize)")
        }
        guard pairs >= 0, pairs % 20 == 0 else {
            throw SynthError("""
                --pairs must be 0 or a positive multiple of 20 (10 folds, each half same and half different \
                identity); got \(pairs)
                """)
        }
        if let pairIdentities, pairs > 0, pairIdentities < 2 {
            throw SynthError("--pair-identities must be at least 2 to form different-identity pairs; got \(pairIdentities)")
        }
        // Identity indices are UInt64 stream keys and Int labels; keep their sum far from overflow.
        if let pairIdentities, pairIdentities > 1_000_000_000 {
            throw SynthError("--pair-identities must be at most 1000000000; got \(pairIdentities)")
        }
        guard difficulty.isFinite, (0...3).contains(difficulty) else {
            throw SynthError("--difficulty must be between 0 and 3; got \(difficulty)")
        }
        let (total, overflow) = identities.multipliedReportingOverflow(by: imagesPerIdentity)
        guard !overflow, total <= 100_000_000 else {
            throw SynthError("--identities x --images-per-identity must be at most 100000000; got \(identities) x \(imagesPerIdentity)")
        }
    }
}

/// One verification pair: two images of held-out identities.
public struct SynthPair: Sendable, Equatable {
    /// Identity indices; held-out identities are numbered from `SynthConfig.identities` upwards, so they
    /// never coincide with a training class.
    public var first: Int, second: Int
    public var same: Bool { first == second }
}

/// A planned synthetic face set: identities, training images and verification pairs, each rendered on
/// demand from its own random stream, so any image can be produced alone, in any order, on any thread.
///
/// Streams (SplitMix64.derived(seed, purpose, ...)): identity i: (1, i); training image n of identity i:
/// (2, i, n); side s of pair p: (3, p, s); the pair plan: (4).
public struct SyntheticFaces: Sendable {
    public let config: SynthConfig
    /// `config.pairs` pairs in 10 contiguous folds; each fold holds equally many same and different pairs.
    public let pairs: [SynthPair]

    public init(_ config: SynthConfig) throws {
        try config.validate()
        self.config = config
        pairs = Self.planPairs(config)
    }

    /// Identity `index`: training identities are 0..<config.identities, held-out ones follow. Drawn from
    /// its own stream on demand (a few hundred nanoseconds), so memory does not grow with the identity count.
    public func identity(_ index: Int) -> FaceIdentity {
        var rng = SplitMix64.derived(config.seed, 1, UInt64(index))
        return FaceIdentity.random(&rng, spread: config.identitySpread)
    }

    public var trainingImageCount: Int { config.identities * config.imagesPerIdentity }

    /// The class of training image `index` (images are grouped by identity, in increasing order).
    public func trainingLabel(_ index: Int) -> Int { index / config.imagesPerIdentity }

    /// Training image `index` (identity index / imagesPerIdentity) and the JPEG quality to store it at.
    public func trainingImage(_ index: Int, workspace: FaceRenderer.Workspace = .init())
        -> (image: RGBImage, jpegQuality: Int) {
        let identity = index / config.imagesPerIdentity, number = index % config.imagesPerIdentity
        var rng = SplitMix64.derived(config.seed, 2, UInt64(identity), UInt64(number))
        return render(identity, &rng, workspace)
    }

    /// Image `index` of the verification set (0..<2 * pairs): side index % 2 of pair index / 2.
    public func pairImage(_ index: Int, workspace: FaceRenderer.Workspace = .init())
        -> (image: RGBImage, jpegQuality: Int) {
        let pair = pairs[index / 2]
        var rng = SplitMix64.derived(config.seed, 3, UInt64(index / 2), UInt64(index % 2))
        return render(index % 2 == 0 ? pair.first : pair.second, &rng, workspace)
    }

    private func render(_ identity: Int, _ rng: inout SplitMix64, _ workspace: FaceRenderer.Workspace)
        -> (image: RGBImage, jpegQuality: Int) {
        let conditions = ImageConditions.random(&rng, strength: Float(config.difficulty), imageSize: config.imageSize)
        let image = FaceRenderer.render(self.identity(identity), conditions, size: config.imageSize, noise: &rng,
                                         workspace: workspace)
        return (image, conditions.jpegQuality)
    }

    /// Renders and JPEG-encodes images `range` of `kind` on all cores; the result is in index order and
    /// byte-identical whatever the thread count.
    public func encoded(_ kind: ImageKind, _ range: Range<Int>) throws -> [Data] {
        let count = range.count
        let chunk = 16
        let chunks = (count + chunk - 1) / chunk
        let results = UnsafeMutableBufferPointer<Data>.allocate(capacity: count)
        results.initialize(repeating: Data())
        defer { results.deinitialize(); results.deallocate() }
        let failures = FirstFailure()
        DispatchQueue.concurrentPerform(iterations: chunks) { chunkIndex in
            let codec = JPEGCodec(), workspace = FaceRenderer.Workspace()
            let start = chunkIndex * chunk
            for offset in start..<min(start + chunk, count) {
                let index = range.lowerBound + offset
                let (image, quality) = kind == .training
                    ? trainingImage(index, workspace: workspace) : pairImage(index, workspace: workspace)
                do {
                    results[offset] = try codec.encode(image, quality: quality)
                } catch {
                    failures.record(error)
                }
            }
        }
        if let error = failures.error { throw error }
        return Array(results)
    }

    public enum ImageKind: Sendable { case training, pair }

    /// Pair plan: for each of the 10 folds, half same and half different pairs in a shuffled order; a same
    /// pair takes one random held-out identity, a different pair two distinct ones.
    static func planPairs(_ config: SynthConfig) -> [SynthPair] {
        guard config.pairs > 0 else { return [] }
        var rng = SplitMix64.derived(config.seed, 4)
        let heldOut = config.heldOutIdentities, first = config.identities
        let perFold = config.pairs / 10
        var pairs: [SynthPair] = []
        pairs.reserveCapacity(config.pairs)
        for _ in 0..<10 {
            var same = [Bool](repeating: true, count: perFold / 2) + [Bool](repeating: false, count: perFold / 2)
            // Fisher-Yates.
            for i in stride(from: same.count - 1, to: 0, by: -1) {
                same.swapAt(i, rng.below(i + 1))
            }
            for isSame in same {
                let a = rng.below(heldOut)
                if isSame {
                    pairs.append(SynthPair(first: first + a, second: first + a))
                } else {
                    var b = rng.below(heldOut - 1)
                    if b >= a { b += 1 }
                    pairs.append(SynthPair(first: first + a, second: first + b))
                }
            }
        }
        return pairs
    }
}

/// Keeps the first error thrown on any worker thread.
private final class FirstFailure: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: Error?

    func record(_ error: Error) {
        lock.lock(); defer { lock.unlock() }
        if self.error == nil { self.error = error }
    }
}
