/// Bad evaluation input: inconsistent embeddings or labels, malformed meta files, missing images.
/// Each case says where the problem is, what was expected and what was found.
public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    /// Two inputs that must agree in size do not.
    case countMismatch(what: String, expected: Int, found: Int)
    /// Too few pairs to split into the requested folds (sklearn's KFold refuses the same).
    case tooFewPairs(pairs: Int, folds: Int)
    /// An ROC needs both classes; `missing` is "positive" or "negative".
    case singleClass(missing: String)
    /// A score or embedding value is NaN or infinite.
    case nonFinite(what: String, index: Int)
    /// A line of a meta file does not have the expected layout.
    case malformedLine(file: String, line: Int, expected: String, found: String)
    /// A file named by the meta data does not exist or cannot be read.
    case missingFile(path: String, referencedBy: String)
    /// Landmarks that do not define a transform (wrong count, all points equal).
    case badLandmarks(source: String, reason: String)
    /// The embedder returned the wrong number of rows or a wrong dimension.
    case embedderOutput(expected: String, found: String)
    /// Neither `root/meta` nor `root/<target>/meta` exists.
    case noIJBSet(root: String, target: String)

    public var description: String {
        switch self {
        case let .countMismatch(what, expected, found):
            return "\(what): expected \(expected), found \(found)"
        case let .tooFewPairs(pairs, folds):
            return "cannot split \(pairs) pairs into \(folds) folds: need at least \(folds) pairs"
        case let .singleClass(missing):
            return "ROC undefined: the pairs contain no \(missing) pair (every label is the same)"
        case let .nonFinite(what, index):
            return "\(what) \(index) is not finite (NaN or infinity); the model may have diverged"
        case let .malformedLine(file, line, expected, found):
            return "\(file):\(line): expected \(expected), found \"\(found)\""
        case let .missingFile(path, referencedBy):
            return "\(path) (named by \(referencedBy)) does not exist or cannot be read; "
                + "check the data set's root folder"
        case let .badLandmarks(source, reason):
            return "\(source): \(reason)"
        case let .embedderOutput(expected, found):
            return "embedder returned \(found), expected \(expected)"
        case let .noIJBSet(root, target):
            return "\(root): no IJB set: expected \(root)/meta (the \(target) folder itself, e.g. IJB_release/\(target)) "
                + "or \(root)/\(target)/meta (the release folder, e.g. IJB_release)"
        }
    }
}
