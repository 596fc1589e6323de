// Partial FC (An et al., "Killing two birds with one stone", CVPR 2022; arcface_torch's PartialFC_V2 on
// one process): the class-centre matrix of the margin-softmax head, of which each step uses the classes
// in the batch plus a uniform random set of others. With sample rate 1 it is the plain normalised linear
// head with every class.
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
/// `weight` is one Parameter for every class: rows a step does not use get an exactly zero gradient, so
/// weight decay and momentum still move them, as in PyTorch. A training step:
///
///     let loss = try head.loss(backbone(images), labels: labels)
///     try loss.backward()          // gradients into the backbone and into head.weight
///     // optimiser: backbone group + [head.weight]; then zeroGrad() on all of them
public final class PartialFC {
    /// Class centres: [classes, embeddingSize]; PyTorch key "weight" (arcface_torch's PartialFC_V2).
    public let weight: Parameter
    public let margin: CombinedMargin
    public let classCount: Int
    public let embeddingSize: Int
    /// The fraction of classes each step uses; 1 uses all of them without sampling.
    public let sampleRate: Double
    /// Rows per step when sampling: floor(sampleRate * classCount), as arcface_torch's int(r * classes).
    public let sampleCount: Int
    /// The sampler's stream (after the weight initialisation's draws); save and restore it to resume
    /// with the same samples.
    public var generator: HeadRandom
    /// The classes the last `loss` call used (nil before the first call or when sampleRate is 1).
    public private(set) var lastSubset: ClassSubset?

    /// - Parameters:
    ///   - seed: seeds the centres' N(0, 0.01) draws and then the class sampling.
    ///   - name: the weight's PyTorch key.
    public init(margin: CombinedMargin, embeddingSize: Int, classCount: Int, sampleRate: Double = 1,
                seed: UInt64, name: String = "weight") throws {
        guard embeddingSize > 0, classCount > 0 else {
            throw HeadError("Partial FC needs a positive embedding size and class count, got \(embeddingSize), \(classCount)")
        }
        guard sampleRate.isFinite, sampleRate > 0, sampleRate <= 1 else {
            throw HeadError("sample_rate must be in (0, 1], got \(sampleRate)")
        }
        self.margin = margin
        self.embeddingSize = embeddingSize
        self.classCount = classCount
        self.sampleRate = sampleRate
        sampleCount = Int((sampleRate * Double(classCount)).rounded(.down))
        generator = HeadRandom(seed: seed)
        weight = Parameter(name: name, shape: [classCount, embeddingSize],
                           values: generator.normal(classCount * embeddingSize, std: 0.01))
    }

    /// Mean margin-softmax loss of a batch, shape [1]; samples the classes when sampleRate < 1.
    /// - embeddings: [N, embeddingSize]; labels: N classes in 0..<classCount.
    public func loss(_ embeddings: Tensor, labels: [Int]) throws -> Tensor {
        try checkBatch(embeddings, labels)
        guard sampleRate < 1 else {
            lastSubset = nil
            return try loss(embeddings, labels: labels, subset: nil)
        }
        let subset = try ClassSubset.sample(batchLabels: labels, classCount: classCount, sampleCount: sampleCount,
                                        using: &generator)
        lastSubset = subset
        return try loss(embeddings, labels: labels, subset: subset)
    }

    /// The loss on the classes of `subset` (every class when nil), without drawing anything.
    public func loss(_ embeddings: Tensor, labels: [Int], subset: ClassSubset?) throws -> Tensor {
        try checkBatch(embeddings, labels)
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
