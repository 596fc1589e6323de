/// Insightface's verification accuracy: a grid of distance thresholds, k contiguous folds, the best
/// threshold chosen on the training folds and scored on the held-out fold.
///
/// A pair is called "same" when its distance is strictly below the threshold. Thresholds are
/// `Double(index) * step`, as `np.arange(0, 4, 0.01)` computes them (start + index * step in float64).
public struct ThresholdFolds: Sendable, Equatable {
    public var foldCount: Int
    public var thresholdStep: Double
    public var thresholdCount: Int

    /// Insightface's settings: 10 folds, thresholds 0.00, 0.01, ..., 3.99.
    public static let insightface = ThresholdFolds(foldCount: 10, thresholdStep: 0.01, thresholdCount: 400)

    public init(foldCount: Int, thresholdStep: Double, thresholdCount: Int) {
        precondition(foldCount >= 2 && thresholdStep > 0 && thresholdCount >= 1)
        self.foldCount = foldCount
        self.thresholdStep = thresholdStep
        self.thresholdCount = thresholdCount
    }

    public func threshold(_ index: Int) -> Double { Double(index) * thresholdStep }

    /// Per-fold results of `evaluate`.
    public struct Result: Sendable, Equatable, Codable {
        /// Accuracy on each held-out fold, in fold order.
        public var foldAccuracies: [Double]
        /// The threshold each fold's training folds chose (the first one with the most correct calls).
        public var bestThresholds: [Double]

        public init(foldAccuracies: [Double], bestThresholds: [Double]) {
            self.foldAccuracies = foldAccuracies
            self.bestThresholds = bestThresholds
        }

        public var mean: Double { foldAccuracies.reduce(0, +) / Double(foldAccuracies.count) }
        /// Population standard deviation (`np.std`, ddof 0) of the fold accuracies.
        public var standardDeviation: Double {
            let mean = self.mean
            let squares = foldAccuracies.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            return (squares / Double(foldAccuracies.count)).squareRoot()
        }
    }

    /// Scores pairs with the given distances (squared L2 in insightface) and labels.
    ///
    /// Runs in O(pairs + folds² · thresholds): each distance is binned once by the first threshold that
    /// calls it "same", and each fold's correct-call counts for every threshold come from cumulative sums,
    /// which gives the same counts as testing every threshold on every pair.
    /// A NaN distance is never "same" (as `np.less` treats it).
    public func evaluate(distances: [Double], isSame: [Bool]) throws -> Result {
        guard distances.count == isSame.count else {
            throw EvaluationError.countMismatch(what: "labels for \(distances.count) distances",
                                                expected: distances.count, found: isSame.count)
        }
        let folds = try KFold.folds(count: distances.count, foldCount: foldCount)
        let binCount = thresholdCount + 1  // bin thresholdCount: "same" at no threshold
        // sameCounts[f][b] / differentCounts[f][b]: pairs of fold f first called "same" at threshold b.
        var sameCounts = [[Int]](repeating: [Int](repeating: 0, count: binCount), count: foldCount)
        var differentCounts = sameCounts
        for (fold, range) in folds.enumerated() {
            for index in range {
                let bin = firstThresholdAbove(distances[index])
                if isSame[index] { sameCounts[fold][bin] += 1 } else { differentCounts[fold][bin] += 1 }
            }
        }
        // correct[f][t]: pairs of fold f called right at threshold t: same pairs with bin <= t plus
        // different pairs with bin > t.
        var correct = [[Int]](repeating: [Int](repeating: 0, count: thresholdCount), count: foldCount)
        for fold in 0..<foldCount {
            var sameBelow = 0
            var differentAtOrAbove = differentCounts[fold].reduce(0, +)
            for t in 0..<thresholdCount {
                sameBelow += sameCounts[fold][t]
                differentAtOrAbove -= differentCounts[fold][t]
                correct[fold][t] = sameBelow + differentAtOrAbove
            }
        }
        var total = [Int](repeating: 0, count: thresholdCount)
        for fold in 0..<foldCount { for t in 0..<thresholdCount { total[t] += correct[fold][t] } }

        var accuracies: [Double] = []
        var thresholds: [Double] = []
        for (fold, range) in folds.enumerated() {
            // np.argmax: the first threshold with the most correct training calls. Comparing counts is
            // comparing accuracies, since every threshold divides by the same training-set size.
            var best = 0
            var bestCorrect = Int.min
            for t in 0..<thresholdCount {
                let training = total[t] - correct[fold][t]
                if training > bestCorrect { bestCorrect = training; best = t }
            }
            accuracies.append(Double(correct[fold][best]) / Double(range.count))
            thresholds.append(threshold(best))
        }
        return Result(foldAccuracies: accuracies, bestThresholds: thresholds)
    }

    /// The index of the first threshold t with `distance < t`, or `thresholdCount` when there is none.
    func firstThresholdAbove(_ distance: Double) -> Int {
        guard distance < threshold(thresholdCount - 1) else { return thresholdCount }  // also NaN
        guard distance >= 0 else { return 0 }
        // A guess from division, then corrected against the exact products the grid uses.
        var index = min(thresholdCount - 1, Int(distance / thresholdStep) + 1)
        while index > 0 && distance < threshold(index - 1) { index -= 1 }
        while !(distance < threshold(index)) { index += 1 }
        return index
    }
}
