// Partial FC (An et al., "Killing two birds with one stone", CVPR 2022; arcface_torch's PartialFC_V2 on
// one process): the class-centre matrix of the margin-softmax head, of which each step uses the classes
// in the batch plus a uniform random set of others. With sample rate 1 it is the plain normalised linear
// head with every class.
import Collective
import Engine
import Foundation

/// The classes one step uses and the batch's labels as positions among them.
public struct ClassSubset: Equatable, Sendable {
    /// Class indices, ascending, without repeats; every class of the batch is among them.
    public let classes: [Int]
    /// labels[i] remapped to its position in `classes` (torch.searchsorted(classes, label)).
    public let labels: [Int]

    /// A subset given explicitly (tests, or a caller reproducing another run's choice). Throws unless
    /// `classes` is ascending without repeats and holds every label.
    public init(classes: [Int], batchLabels: [Int]) throws {
        guard zip(classes, classes.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw HeadError("class subset must be ascending without repeats")
        }
        self.classes = classes
        labels = try batchLabels.enumerated().map { sample, label in
            guard let position = ClassSubset.position(of: label, in: classes) else {
                throw HeadError("class subset lacks class \(label) of sample \(sample)")
            }
            return position
        }
    }

    /// Binary search for `label` in ascending `classes`.
    static func position(of label: Int, in classes: [Int]) -> Int? {
        var low = 0, high = classes.count
        while low < high {
            let middle = (low + high) / 2
            if classes[middle] < label { low = middle + 1 } else { high = middle }
        }
        return low < classes.count && classes[low] == label ? low : nil
    }

    /// Every class of the batch plus `sampleCount` - (number of distinct batch classes) others drawn
    /// uniformly without replacement from the rest (all subsets of that size equally likely), ascending.
    /// When the batch holds more than `sampleCount` classes, exactly the batch's classes (arcface_torch).
    ///
    /// Knuth's selection sampling (TAOCP vol. 2, 3.4.2, Algorithm S) over the classes in order: a class
    /// of the batch is always kept; another is kept with probability (still needed) / (others not yet
    /// seen), one `uniform(below:)` draw each, stopping when none is needed. One pass, sorted by
    /// construction. Throws when a label is outside 0..<classCount.
    public static func sample(batchLabels: [Int], classCount: Int, sampleCount: Int,
                              using generator: inout HeadRandom) throws -> ClassSubset {
        if let bad = batchLabels.firstIndex(where: { $0 < 0 || $0 >= classCount }) {
            throw HeadError("sample \(bad) has label \(batchLabels[bad]), expected a class in 0..<\(classCount)")
        }
        var isPositive = [Bool](repeating: false, count: classCount)
        for label in batchLabels { isPositive[label] = true }
        let positives = isPositive.reduce(0) { $0 + ($1 ? 1 : 0) }
        var needed = Swift.max(0, sampleCount - positives)
        var othersLeft = classCount - positives
        var classes: [Int] = []
        classes.reserveCapacity(Swift.max(sampleCount, positives))
        for candidate in 0..<classCount {
            if isPositive[candidate] {
                classes.append(candidate)
                continue
            }
            guard needed > 0 else { continue }
            if generator.uniform(below: othersLeft) < needed {
                classes.append(candidate)
                needed -= 1
            }
            othersLeft -= 1
        }
        return try ClassSubset(classes: classes, batchLabels: batchLabels)
    }
}

/// The margin-softmax head with Partial FC: class centres `weight` [classes, embeddingSize] initialised
/// N(0, 0.01), the loss of a batch under `margin` computed on a sampled subset of the classes when
/// `sampleRate` < 1 (floor(sampleRate * classes) rows, always including the batch's classes).
///
/// Across ranks (arcface_torch's partial_fc_v2) each rank holds the centres of its `shard` only, samples
/// within it, and computes the loss of the global batch with the other ranks (`loss(_:labels:communicator:)`:
/// embeddings and labels all-gathered, the cross entropy reduced across shards). The centres of a shard
/// are exactly those rows of the single-process head with the same seed, so runs on any world size start
/// from the same head.
///
/// `weight` is one Parameter for every class of the shard: rows a step does not use get an exactly zero
/// gradient, so weight decay and momentum still move them, as in PyTorch. A training step:
///
///     let loss = try head.loss(backbone(images), labels: labels)
///     try loss.backward()          // gradients into the backbone and into head.weight
///     // optimiser: backbone group + [head.weight]; then zeroGrad() on all of them
public final class PartialFC {
    /// This shard's class centres: [shard.count, embeddingSize]; PyTorch key "weight" (PartialFC_V2).
    public let weight: Parameter
    public let margin: CombinedMargin
    /// Classes of the whole head (all shards).
    public let classCount: Int
    /// The classes this head holds (every class on one process).
    public let shard: ClassShard
    public let embeddingSize: Int
    /// The fraction of classes each step uses; 1 uses all of them without sampling.
    public let sampleRate: Double
    /// Rows per step when sampling: floor(sampleRate * shard classes), as partial_fc_v2's
    /// int(sample_rate * num_local).
    public let sampleCount: Int
    /// The sampler's stream; save and restore it to resume with the same samples. On one process (and on
    /// rank 0) it continues after the weight initialisation's draws; other ranks seed their own.
    public var generator: HeadRandom
    /// The classes of this shard (local indices) the last `loss` call used (nil before the first call or
    /// when sampleRate is 1).
    public private(set) var lastSubset: ClassSubset?

    /// - Parameters:
    ///   - seed: seeds the centres' N(0, 0.01) draws and then the class sampling.
    ///   - name: the weight's PyTorch key.
    ///   - shard: the classes this head holds; every class when nil.
    public init(margin: CombinedMargin, embeddingSize: Int, classCount: Int, sampleRate: Double = 1,
                seed: UInt64, name: String = "weight", shard: ClassShard? = nil) throws {
        guard embeddingSize > 0, classCount > 0 else {
            throw HeadError("Partial FC needs a positive embedding size and class count, got \(embeddingSize), \(classCount)")
        }
        guard sampleRate.isFinite, sampleRate > 0, sampleRate <= 1 else {
            throw HeadError("sample_rate must be in (0, 1], got \(sampleRate)")
        }
        let shard = shard ?? .whole(classCount: classCount)
        guard shard.classCount == classCount, shard.count > 0, shard.offset >= 0, shard.classes.upperBound <= classCount else {
            throw HeadError("Partial FC: shard \(shard.classes) of \(shard.classCount) classes does not fit a head of \(classCount) "
                            + "classes (each rank needs at least one class)")
        }
        self.margin = margin
        self.embeddingSize = embeddingSize
        self.classCount = classCount
        self.shard = shard
        self.sampleRate = sampleRate
        sampleCount = Int((sampleRate * Double(shard.count)).rounded(.down))
        generator = HeadRandom(seed: seed)
        weight = Parameter(name: name, shape: [shard.count, embeddingSize],
                           values: Self.initialCentres(shard, embeddingSize: embeddingSize, using: &generator))
        if shard.offset > 0 {
            // A shard after the first would otherwise sample from the stream of the rows after it.
            generator = HeadRandom(seed: seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(shard.offset)))
        }
    }

    /// The shard's rows of the whole head's N(0, 0.01) draws: the stream up to the shard's end, generated in
    /// even-sized pieces (the normal draws come in pairs), so every shard equals the single-process rows.
    private static func initialCentres(_ shard: ClassShard, embeddingSize: Int, using generator: inout HeadRandom) -> [Float] {
        let start = shard.offset * embeddingSize, end = shard.classes.upperBound * embeddingSize
        guard start > 0 else { return generator.normal(end, std: 0.01) }
        var values = [Float](repeating: 0, count: end - start)
        let piece = 1 << 20
        var position = 0
        while position < end {
            let drawn = generator.normal(Swift.min(piece, end - position), std: 0.01)
            let from = Swift.max(position, start), to = position + drawn.count
            if from < to {
                values.replaceSubrange((from - start)..<(to - start), with: drawn[(from - position)..<(to - position)])
            }
            position = to
        }
        return values
    }

    /// Mean margin-softmax loss of a batch, shape [1]; samples the classes when sampleRate < 1.
    /// - embeddings: [N, embeddingSize]; labels: N classes in 0..<classCount.
    public func loss(_ embeddings: Tensor, labels: [Int]) throws -> Tensor {
        try loss(embeddings, labels: labels, communicator: SingleProcess())
    }

    /// The loss of the global batch, the same on every rank: this rank's `embeddings` [N, D] and `labels`
    /// are all-gathered, the logits of this shard's (sampled) classes computed, and the cross entropy
    /// reduced across shards. Backward sends each rank the gradient of its own embeddings (times the world
    /// size: see `allGatherRows`) and this shard's centres the gradient of its rows.
    public func loss(_ embeddings: Tensor, labels: [Int], communicator: any Communicator) throws -> Tensor {
        try checkBatch(embeddings, labels)
        let gathered = try allGatherRows(embeddings, communicator)
        let allLabels = communicator.worldSize > 1 ? try communicator.allGather(labels) : labels
        let mine = allLabels.map { shard.localIndex(of: $0) ?? -1 }
        let centres: Tensor, columns: [Int]
        if sampleRate < 1 {
            let subset = try ClassSubset.sample(batchLabels: mine.filter { $0 >= 0 }, classCount: shard.count,
                                                sampleCount: sampleCount, using: &generator)
            lastSubset = subset
            centres = try weight.tensor.gatherRows(subset.classes)
            columns = mine.map { $0 < 0 ? -1 : ClassSubset.position(of: $0, in: subset.classes)! }
        } else {
            lastSubset = nil
            centres = weight.tensor
            columns = mine
        }
        let cosines = try cosineLogits(gathered, centres: centres)
        return try distributedCrossEntropy(margin.logits(cosines: cosines, labels: columns), labels: columns, communicator)
    }

    /// The loss on the classes of `subset` (every class when nil), without drawing anything (one process).
    public func loss(_ embeddings: Tensor, labels: [Int], subset: ClassSubset?) throws -> Tensor {
        try checkBatch(embeddings, labels)
        guard shard.count == classCount else { throw HeadError("Partial FC: an explicit class subset needs the whole head") }
        guard let subset else {
            let cosines = try cosineLogits(embeddings, centres: weight.tensor)
            return try flooredCrossEntropy(margin.logits(cosines: cosines, labels: labels), labels: labels)
        }
        guard subset.labels.count == labels.count,
              zip(subset.labels, labels).allSatisfy({ subset.classes[$0] == $1 }),
              subset.classes.last.map({ $0 < classCount }) ?? false else {
            throw HeadError("class subset was not made for this batch of \(labels.count) labels and \(classCount) classes")
        }
        let cosines = try cosineLogits(embeddings, centres: weight.tensor.gatherRows(subset.classes))
        return try flooredCrossEntropy(margin.logits(cosines: cosines, labels: subset.labels), labels: subset.labels)
    }

    private func checkBatch(_ embeddings: Tensor, _ labels: [Int]) throws {
        guard embeddings.shape == [labels.count, embeddingSize] else {
            throw HeadError("Partial FC: embeddings must be [\(labels.count), \(embeddingSize)] for \(labels.count) labels, got \(embeddings.shape)")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classCount }) {
            throw HeadError("Partial FC: sample \(bad) has label \(labels[bad]), expected a class in 0..<\(classCount)")
        }
    }
}
