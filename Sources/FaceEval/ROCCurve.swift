/// A receiver operating characteristic computed as scikit-learn 1.2's `roc_curve(labels, scores)` computes
/// it (positive label 1, `drop_intermediate=True`), with `auc` and insightface's TAR-at-FAR lookup.
///
/// Ties: pairs with equal scores form one point (the curve never splits a tie). Collinear interior points
/// are dropped (a point is kept where the second difference of the false or true positive counts is
/// non-zero), and the curve starts at (0, 0) with threshold `max score + 1`, as sklearn 1.2 does.
public struct ROCCurve: Sendable, Equatable {
    /// Increasing false positive rates (FAR), from 0 to 1.
    public var falsePositiveRates: [Double]
    /// True positive rates (TAR) at the same points.
    public var truePositiveRates: [Double]
    /// Score thresholds, decreasing: a pair counts as positive when its score >= the threshold.
    public var thresholds: [Double]

    /// Higher scores mean "more likely the same identity" (cosine similarity, say).
    public init(scores: [Double], isSame: [Bool]) throws {
        guard scores.count == isSame.count else {
            throw EvaluationError.countMismatch(what: "labels for \(scores.count) scores",
                                                expected: scores.count, found: isSame.count)
        }
        if let bad = scores.firstIndex(where: { !$0.isFinite }) {
            throw EvaluationError.nonFinite(what: "score", index: bad)
        }
        let positives = isSame.reduce(0) { $0 + ($1 ? 1 : 0) }
        guard positives > 0 else { throw EvaluationError.singleClass(missing: "positive") }
        guard positives < scores.count else { throw EvaluationError.singleClass(missing: "negative") }

        // Scores in decreasing order with their labels (the order inside a tie does not matter: ties are
        // merged into one point below).
        var ranked = zip(scores, isSame).map { ScoredPair(score: $0, isSame: $1) }
        ranked.withUnsafeMutableBufferPointer { buffer in buffer.sort { $0.score > $1.score } }
        // One point per distinct score: cumulative counts at the last pair of each tie group.
        var truePositives: [Int] = []
        var falsePositives: [Int] = []
        var pointThresholds: [Double] = []
        var tp = 0
        ranked.withUnsafeBufferPointer { ranked in
            for rank in 0..<ranked.count {
                if ranked[rank].isSame { tp += 1 }
                if rank == ranked.count - 1 || ranked[rank + 1].score != ranked[rank].score {
                    truePositives.append(tp)
                    falsePositives.append(rank + 1 - tp)
                    pointThresholds.append(ranked[rank].score)
                }
            }
        }
        var kept = Array(truePositives.indices)
        if truePositives.count > 2 {
            kept = truePositives.indices.filter { i in
                if i == 0 || i == truePositives.count - 1 { return true }
                let fpBend = falsePositives[i + 1] - 2 * falsePositives[i] + falsePositives[i - 1]
                let tpBend = truePositives[i + 1] - 2 * truePositives[i] + truePositives[i - 1]
                return fpBend != 0 || tpBend != 0
            }
        }
        let negatives = Double(scores.count - positives)
        falsePositiveRates = [0] + kept.map { Double(falsePositives[$0]) / negatives }
        truePositiveRates = [0] + kept.map { Double(truePositives[$0]) / Double(positives) }
        thresholds = [pointThresholds[kept[0]] + 1] + kept.map { pointThresholds[$0] }
    }

    /// Area under the curve by the trapezoidal rule over the curve's points (sklearn's `auc`).
    public var area: Double {
        var sum = 0.0
        for i in 1..<falsePositiveRates.count {
            sum += (falsePositiveRates[i] - falsePositiveRates[i - 1])
                * (truePositiveRates[i] + truePositiveRates[i - 1]) / 2
        }
        return sum
    }

    /// The point whose FPR is closest to `falseAcceptRate`; among equally close points, the one with the
    /// highest TPR. This is insightface's IJB lookup: `min(zip(abs(flipud(fpr) - far), range(n)))`.
    public func point(closestTo falseAcceptRate: Double) -> (falsePositiveRate: Double, truePositiveRate: Double) {
        var best = falsePositiveRates.count - 1
        var bestGap = abs(falsePositiveRates[best] - falseAcceptRate)
        // Walking from the end keeps the earliest index of the flipped arrays on ties, as Python's
        // tuple comparison in `min` does.
        for i in stride(from: falsePositiveRates.count - 2, through: 0, by: -1) {
            let gap = abs(falsePositiveRates[i] - falseAcceptRate)
            if gap < bestGap { bestGap = gap; best = i }
        }
        return (falsePositiveRates[best], truePositiveRates[best])
    }

    /// TAR at the FPR closest to `falseAcceptRate` (see `point(closestTo:)`).
    public func truePositiveRate(atFalseAcceptRate falseAcceptRate: Double) -> Double {
        point(closestTo: falseAcceptRate).truePositiveRate
    }
}

private struct ScoredPair {
    var score: Double
    var isSame: Bool
}

/// One row of a TAR-at-FAR table.
public struct TARAtFAR: Sendable, Equatable, Codable {
    /// The requested false accept rate.
    public var far: Double
    /// The FPR of the ROC point used (the closest one to `far`).
    public var achievedFAR: Double
    public var tar: Double
}

extension ROCCurve {
    public func table(falseAcceptRates: [Double]) -> [TARAtFAR] {
        falseAcceptRates.map { far in
            let point = point(closestTo: far)
            return TARAtFAR(far: far, achievedFAR: point.falsePositiveRate, tar: point.truePositiveRate)
        }
    }
}
