// The pieces of arcface_torch's partial_fc_v2 that span ranks: which classes a rank owns, the all-gather
// of the embeddings (whose backward is a reduce-scatter), and the cross entropy over logits split by class
// across ranks (DistCrossEntropy), so that no rank ever holds every logit. In a world of one each is the
// plain single-process computation.
import Collective
import Engine
import Foundation

/// The contiguous block of classes one rank's head holds (partial_fc_v2's split: the first
/// classCount % worldSize ranks hold one class more).
public struct ClassShard: Codable, Equatable, Sendable {
    /// The first class of the block.
    public let offset: Int
    public let count: Int
    /// Classes of the whole head.
    public let classCount: Int

    /// Every class: the head of a single process.
    public static func whole(classCount: Int) -> ClassShard {
        ClassShard(offset: 0, count: classCount, classCount: classCount)
    }

    /// Rank `rank`'s block among `worldSize` ranks.
    public static func of(classCount: Int, rank: Int, worldSize: Int) -> ClassShard {
        precondition(worldSize > 0 && (0..<worldSize).contains(rank))
        let base = classCount / worldSize, extra = classCount % worldSize
        return ClassShard(offset: base * rank + Swift.min(rank, extra), count: base + (rank < extra ? 1 : 0),
                          classCount: classCount)
    }

    public var classes: Range<Int> { offset..<(offset + count) }

    /// The position of global class `label` in this block, or nil when another rank owns it.
    public func localIndex(of label: Int) -> Int? { classes.contains(label) ? label - offset : nil }
}

/// Every rank's rows of `local` [N, D] concatenated in rank order: [worldSize x N, D]. Backward sums the
/// gathered gradient over the ranks and hands each rank its own rows, times worldSize, as arcface_torch's
/// AllGatherFunc does: the backbone's gradients are then averaged over the ranks, which makes the
/// product the gradient of the loss over the global batch. In a world of one, `local` itself.
public func allGatherRows(_ local: Tensor, _ communicator: any Communicator) throws -> Tensor {
    guard communicator.worldSize > 1 else { return local }
    guard local.shape.count == 2 else {
        throw HeadError("allGatherRows: needs [N, D], got \(local.shape)")
    }
    let rows = local.shape[0], width = local.shape[1], world = communicator.worldSize
    let gathered = try communicator.allGather(local.values())
    let output = Tensor(shape: [rows * world, width], values: gathered)
    return Tensor.recording(output, name: "allGatherRows", inputs: [local]) { gradient in
        var mine = try communicator.reduceScatter(gradient.values())
        let factor = Float(world)
        for index in mine.indices { mine[index] *= factor }
        return [Tensor(shape: [rows, width], values: mine)]
    }
}

/// arcface_torch's DistCrossEntropy over logits whose columns are split across ranks: -mean over the
/// global batch of log(max(p_target, 1e-30)), p the softmax over every rank's columns. The row maxima,
/// the sums of exponentials and the target logits are all-reduced; each sample's target lives on exactly
/// one rank. The gradient is (softmax - onehot) / N on each rank's own columns (the floor ignored, as
/// DistCrossEntropyFunc's backward ignores it), and the loss is the same on every rank.
/// - logits: this rank's [N, K] (N the global batch); labels: N columns of this rank, -1 where the
///   sample's class is on another rank. Returns [1].
public func distributedCrossEntropy(_ logits: Tensor, labels: [Int], _ communicator: any Communicator) throws -> Tensor {
    try checkLabels(labels, logitsShape: logits.shape, "distributedCrossEntropy", allowingAbsent: true)
    let rows = logits.shape[0], width = logits.shape[1]
    let x = try logits.values()
    var largest = [Float](repeating: -.infinity, count: rows)
    for row in 0..<rows {
        for column in 0..<width { largest[row] = Swift.max(largest[row], x[row * width + column]) }
    }
    largest = try communicator.allReduce(largest, .max)
    var exponentials = [Float](repeating: 0, count: rows * width)
    var totals = [Float](repeating: 0, count: rows)
    var targets = [Float](repeating: 0, count: rows)
    for row in 0..<rows {
        let base = row * width
        var total: Float = 0
        for column in 0..<width {
            let value = Foundation.exp(x[base + column] - largest[row])
            exponentials[base + column] = value
            total += value
        }
        totals[row] = total
        if labels[row] >= 0 { targets[row] = x[base + labels[row]] - largest[row] }
    }
    totals = try communicator.allReduce(totals, .sum)
    targets = try communicator.allReduce(targets, .sum)
    let floor = Foundation.log(crossEntropyProbabilityFloor)
    var sum: Float = 0
    for row in 0..<rows { sum += Swift.max(targets[row] - Foundation.log(totals[row]), floor) }
    let output = Tensor(shape: [1], values: [-sum / Float(rows)])
    return Tensor.recording(output, name: "distributedCrossEntropy", inputs: [logits]) { gradient in
        let scale = try gradient.item() / Float(rows)
        var result = exponentials
        for row in 0..<rows {
            let base = row * width, inverse = 1 / totals[row]
            for column in 0..<width { result[base + column] *= inverse * scale }
            if labels[row] >= 0 { result[base + labels[row]] -= scale }
        }
        return [Tensor(shape: [rows, width], values: result)]
    }
}
