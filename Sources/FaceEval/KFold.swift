/// Contiguous, unshuffled folds, sized as scikit-learn's `KFold(n_splits, shuffle=False)` sizes them:
/// every fold gets `count / foldCount` items and the first `count % foldCount` folds one more.
public enum KFold {
    /// The index range of each fold, in order. Throws when there are fewer items than folds.
    public static func folds(count: Int, foldCount: Int) throws -> [Range<Int>] {
        precondition(foldCount >= 2, "KFold needs at least 2 folds, got \(foldCount)")
        guard count >= foldCount else { throw EvaluationError.tooFewPairs(pairs: count, folds: foldCount) }
        var ranges: [Range<Int>] = []
        var start = 0
        for fold in 0..<foldCount {
            let size = count / foldCount + (fold < count % foldCount ? 1 : 0)
            ranges.append(start..<(start + size))
            start += size
        }
        return ranges
    }
}
