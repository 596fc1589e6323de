import FaceData

/// Pair verification as insightface's `verification.test` runs it on lfw.bin, cfp_fp.bin, agedb_30.bin:
/// embeddings of every image and of its mirror image, XNorm, flip-fused normalised embeddings, squared L2
/// distances, 10-fold threshold accuracy; plus ROC AUC and TAR at FAR over all pairs (HaarFace's addition).
///
/// Images come in pair order: pair i is images 2i and 2i+1, as in a .bin file.
public enum Verification {
    /// The FARs reported for verification sets.
    public static let falseAcceptRates: [Double] = [1e-4, 1e-3, 1e-2]

    /// XNorm: the mean L2 norm of every raw (unnormalised) embedding, originals and mirror images alike,
    /// i.e. the sum of the 2 x (2 x pairs) norms divided by their number. Insightface loops over both
    /// entries of `embeddings_list` (originals, then flips) in the same way.
    public static func xNorm(original: [[Float]], flipped: [[Float]]) -> Double {
        let rows = original + flipped
        guard !rows.isEmpty else { return 0 }
        return rows.reduce(0.0) { $0 + norm($1) } / Double(rows.count)
    }

    /// L2-normalise(f(x) + f(flip x)) per image, in float64 as insightface's float64 buffers hold it.
    /// A zero sum stays zero (sklearn's `normalize` divides by 1 then).
    public static func fusedEmbeddings(original: [[Float]], flipped: [[Float]]) throws -> [[Double]] {
        guard original.count == flipped.count else {
            throw EvaluationError.countMismatch(what: "flipped embeddings", expected: original.count,
                                                found: flipped.count)
        }
        return try zip(original, flipped).enumerated().map { index, pair in
            guard pair.0.count == pair.1.count else {
                throw EvaluationError.countMismatch(what: "dimension of flipped embedding \(index)",
                                                    expected: pair.0.count, found: pair.1.count)
            }
            let sum = zip(pair.0, pair.1).map { Double($0) + Double($1) }
            if sum.contains(where: { !$0.isFinite }) { throw EvaluationError.nonFinite(what: "embedding", index: index) }
            return normalised(sum)
        }
    }

    /// Squared L2 distance between the embeddings of each pair (2i, 2i+1).
    public static func squaredDistances(pairsOf embeddings: [[Double]]) -> [Double] {
        stride(from: 0, to: embeddings.count - 1, by: 2).map { i in
            zip(embeddings[i], embeddings[i + 1]).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        }
    }

    /// Cosine similarity of each pair (2i, 2i+1) of normalised embeddings: their dot product.
    public static func cosineSimilarities(pairsOf embeddings: [[Double]]) -> [Double] {
        stride(from: 0, to: embeddings.count - 1, by: 2).map { i in
            zip(embeddings[i], embeddings[i + 1]).reduce(0.0) { $0 + $1.0 * $1.1 }
        }
    }

    /// Everything insightface reports, and more, from the embeddings of the 2N images and their flips.
    public static func evaluate(original: [[Float]], flipped: [[Float]], isSame: [Bool],
                                protocol folds: ThresholdFolds = .insightface) throws -> VerificationReport {
        guard original.count == 2 * isSame.count else {
            throw EvaluationError.countMismatch(what: "embeddings for \(isSame.count) pairs",
                                                expected: 2 * isSame.count, found: original.count)
        }
        let embeddings = try fusedEmbeddings(original: original, flipped: flipped)
        let result = try folds.evaluate(distances: squaredDistances(pairsOf: embeddings), isSame: isSame)
        // An ROC needs both labels; a set of only "same" pairs still has an accuracy.
        let roc = try? ROCCurve(scores: cosineSimilarities(pairsOf: embeddings), isSame: isSame)
        return VerificationReport(
            pairCount: isSame.count,
            xNorm: xNorm(original: original, flipped: flipped),
            accuracyMean: result.mean,
            accuracyStandardDeviation: result.standardDeviation,
            foldAccuracies: result.foldAccuracies,
            bestThresholds: result.bestThresholds,
            rocAUC: roc?.area,
            tarAtFAR: roc?.table(falseAcceptRates: falseAcceptRates))
    }

    /// Embeds `images` (2N aligned faces in pair order) and their mirror images with `embedder`, then
    /// evaluates as above.
    public static func evaluate(images: [RGBImage], isSame: [Bool], embedder: FaceEmbedder,
                                batchSize: Int = 64) throws -> VerificationReport {
        let original = try embedder.embedChecked(images, batchSize: batchSize)
        let flipped = try embedder.embedChecked(images.map { $0.flippedHorizontally() }, batchSize: batchSize)
        return try evaluate(original: original, flipped: flipped, isSame: isSame)
    }

    static func norm(_ row: [Float]) -> Double {
        row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    static func normalised(_ row: [Double]) -> [Double] {
        let length = row.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        return length == 0 ? row : row.map { $0 / length }
    }
}

/// The outcome of one verification set. `Codable` for the JSON summary.
public struct VerificationReport: Sendable, Equatable, Codable {
    public var pairCount: Int
    public var xNorm: Double
    /// Mean and population std of the 10 held-out fold accuracies ("Accuracy-Flip").
    public var accuracyMean: Double
    public var accuracyStandardDeviation: Double
    public var foldAccuracies: [Double]
    public var bestThresholds: [Double]
    /// nil when every pair has the same label (no ROC exists).
    public var rocAUC: Double?
    public var tarAtFAR: [TARAtFAR]?
}
