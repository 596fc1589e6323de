import FaceData

/// Pair verification as insightface's `verification.test` runs it on lfw.bin, cfp_fp.bin, agedb_30.bin:
/// embeddings of every image and of its mirror image, XNorm, flip-fused normalised embeddings, squared L2
/// distances, 10-fold threshold accuracy; plus ROC AUC and TAR at FAR over all pairs (HaarFace's addition).
///
/// Images come in pair order: pair i is images 2i and 2i+1, as in a .bin file. Arithmetic is float64, as in
/// insightface, whose embedding buffers are float64 arrays filled from the network's float32 outputs.
public enum Verification {
    /// The FARs reported for verification sets.
    public static let falseAcceptRates: [Double] = [1e-4, 1e-3, 1e-2]

    /// XNorm: the mean L2 norm of every raw (unnormalised) embedding, originals and mirror images alike,
    /// i.e. the sum of the 2 x (2 x pairs) norms divided by their number. Insightface loops over both
    /// entries of `embeddings_list` (originals, then flips) in the same way.
    public static func xNorm(original: [[Float]], flipped: [[Float]]) -> Double {
        let count = original.count + flipped.count
        guard count > 0 else { return 0 }
        var sum = 0.0
        for row in original { sum += row.withUnsafeBufferPointer(norm) }
        for row in flipped { sum += row.withUnsafeBufferPointer(norm) }
        return sum / Double(count)
    }

    /// L2-normalise(f(x) + f(flip x)) per image: HaarFace's one flip fusion (`evaluate`, `features`, and through
    /// them `haarface eval`, `embed` and `verify`). A zero sum stays zero (sklearn's `normalize` leaves it); a NaN
    /// or infinity is an error naming the row.
    public static func fusedEmbeddings(original: [[Float]], flipped: [[Float]]) throws -> [[Double]] {
        try checkShapes(original: original, flipped: flipped)
        return try original.indices.map { index in
            try [Double](unsafeUninitializedCapacity: original[index].count) { out, initialized in
                try fuse(original, flipped, index, into: out)
                initialized = original[index].count
            }
        }
    }

    /// The features verification compares, one per image: `fusedEmbeddings` of the embeddings of `images`
    /// and of their mirror images, exactly as `evaluate(images:...)` fuses them; without `flip`,
    /// L2-normalise(f(x)) by the same rule (f(x) fused with zeros).
    public static func features(of images: [RGBImage], embedder: FaceEmbedder, batchSize: Int = 64,
                                flip: Bool = true) throws -> [[Double]] {
        let original = try embedder.embedChecked(images, batchSize: batchSize)
        let flipped = flip ? try embedder.embedChecked(images.map { $0.flippedHorizontally() }, batchSize: batchSize)
            : original.map { [Float](repeating: 0, count: $0.count) }
        return try fusedEmbeddings(original: original, flipped: flipped)
    }

    /// Squared L2 distance between the embeddings of each pair (2i, 2i+1).
    public static func squaredDistances(pairsOf embeddings: [[Double]]) -> [Double] {
        stride(from: 0, to: embeddings.count - 1, by: 2).map { i in
            embeddings[i].withUnsafeBufferPointer { a in
                embeddings[i + 1].withUnsafeBufferPointer { b in squaredDistance(a, b) }
            }
        }
    }

    /// Cosine similarity of each pair (2i, 2i+1) of normalised embeddings: their dot product.
    public static func cosineSimilarities(pairsOf embeddings: [[Double]]) -> [Double] {
        stride(from: 0, to: embeddings.count - 1, by: 2).map { i in
            embeddings[i].withUnsafeBufferPointer { a in
                embeddings[i + 1].withUnsafeBufferPointer { b in dot(a, b) }
            }
        }
    }

    /// Everything insightface reports, and more, from the embeddings of the 2N images and their flips.
    /// Pairs are fused one at a time into scratch rows (the same arithmetic as `fusedEmbeddings`), so no
    /// 2N x dimension float64 matrix is built, and XNorm is summed in the same single pass over the rows.
    public static func evaluate(original: [[Float]], flipped: [[Float]], isSame: [Bool],
                                protocol folds: ThresholdFolds = .insightface) throws -> VerificationReport {
        guard original.count == 2 * isSame.count else {
            throw EvaluationError.countMismatch(what: "embeddings for \(isSame.count) pairs",
                                                expected: 2 * isSame.count, found: original.count)
        }
        try checkShapes(original: original, flipped: flipped)
        let dimension = original.first?.count ?? 0
        var distances = [Double](repeating: 0, count: isSame.count)
        var cosines = [Double](repeating: 0, count: isSame.count)
        var scratch = [Double](repeating: 0, count: 2 * dimension)
        var norms = 0.0
        try scratch.withUnsafeMutableBufferPointer { scratch in
            let first = UnsafeMutableBufferPointer(rebasing: scratch[0..<dimension])
            let second = UnsafeMutableBufferPointer(rebasing: scratch[dimension...])
            for pair in 0..<isSame.count {
                let firstNorms = try fuse(original, flipped, 2 * pair, into: first)
                let secondNorms = try fuse(original, flipped, 2 * pair + 1, into: second)
                norms += (firstNorms.original + firstNorms.flipped) + (secondNorms.original + secondNorms.flipped)
                distances[pair] = squaredDistance(UnsafeBufferPointer(first), UnsafeBufferPointer(second))
                cosines[pair] = dot(UnsafeBufferPointer(first), UnsafeBufferPointer(second))
            }
        }
        let result = try folds.evaluate(distances: distances, isSame: isSame)
        // An ROC needs both labels; a set of only "same" pairs still has an accuracy.
        let roc = try? ROCCurve(scores: cosines, isSame: isSame)
        return VerificationReport(
            pairCount: isSame.count,
            xNorm: original.isEmpty ? 0 : norms / Double(2 * original.count),
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

    static func checkShapes(original: [[Float]], flipped: [[Float]]) throws {
        guard original.count == flipped.count else {
            throw EvaluationError.countMismatch(what: "flipped embeddings", expected: original.count,
                                                found: flipped.count)
        }
        let dimension = original.first?.count ?? 0
        for index in original.indices where original[index].count != dimension || flipped[index].count != dimension {
            let found = original[index].count != dimension ? original[index].count : flipped[index].count
            throw EvaluationError.countMismatch(what: "dimension of embedding \(index)", expected: dimension, found: found)
        }
    }

    /// Writes L2-normalise(original[row] + flipped[row]) into `out` and returns the L2 norms of the two raw
    /// rows (for XNorm); throws on NaN or infinity.
    @discardableResult
    static func fuse(_ original: [[Float]], _ flipped: [[Float]], _ row: Int,
                     into out: UnsafeMutableBufferPointer<Double>) throws -> (original: Double, flipped: Double) {
        let (squares, rawNorms) = original[row].withUnsafeBufferPointer { a in
            flipped[row].withUnsafeBufferPointer { b in
                var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
                var d = 0
                while d + 4 <= a.count {
                    let v0 = Double(a[d]) + Double(b[d]), v1 = Double(a[d + 1]) + Double(b[d + 1])
                    let v2 = Double(a[d + 2]) + Double(b[d + 2]), v3 = Double(a[d + 3]) + Double(b[d + 3])
                    out[d] = v0; out[d + 1] = v1; out[d + 2] = v2; out[d + 3] = v3
                    s0 += v0 * v0; s1 += v1 * v1; s2 += v2 * v2; s3 += v3 * v3
                    d += 4
                }
                while d < a.count {
                    let v = Double(a[d]) + Double(b[d])
                    out[d] = v
                    s0 += v * v
                    d += 1
                }
                // The rows are in cache now: their norms cost little here.
                return ((s0 + s1) + (s2 + s3), (norm(a), norm(b)))
            }
        }
        guard squares.isFinite else { throw EvaluationError.nonFinite(what: "embedding", index: row) }
        // sklearn's normalize divides by the norm (not multiplies by its inverse) and skips zero rows.
        if squares > 0 {
            let length = squares.squareRoot()
            for d in 0..<out.count { out[d] /= length }
        }
        return rawNorms
    }

    // Sums below keep four interleaved partial sums so the additions pipeline; numpy's BLAS and pairwise
    // sums do not add in sequence either, and results agree to rounding.

    static func norm(_ values: UnsafeBufferPointer<Float>) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var d = 0
        while d + 4 <= values.count {
            let v0 = Double(values[d]), v1 = Double(values[d + 1])
            let v2 = Double(values[d + 2]), v3 = Double(values[d + 3])
            s0 += v0 * v0; s1 += v1 * v1; s2 += v2 * v2; s3 += v3 * v3
            d += 4
        }
        while d < values.count { s0 += Double(values[d]) * Double(values[d]); d += 1 }
        return ((s0 + s1) + (s2 + s3)).squareRoot()
    }

    static func squaredDistance(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        let count = min(a.count, b.count)
        var d = 0
        while d + 4 <= count {
            let e0 = a[d] - b[d], e1 = a[d + 1] - b[d + 1], e2 = a[d + 2] - b[d + 2], e3 = a[d + 3] - b[d + 3]
            s0 += e0 * e0; s1 += e1 * e1; s2 += e2 * e2; s3 += e3 * e3
            d += 4
        }
        while d < count { s0 += (a[d] - b[d]) * (a[d] - b[d]); d += 1 }
        return (s0 + s1) + (s2 + s3)
    }

    static func dot(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        let count = min(a.count, b.count)
        var d = 0
        while d + 4 <= count {
            s0 += a[d] * b[d]; s1 += a[d + 1] * b[d + 1]; s2 += a[d + 2] * b[d + 2]; s3 += a[d + 3] * b[d + 3]
            d += 4
        }
        while d < count { s0 += a[d] * b[d]; d += 1 }
        return (s0 + s1) + (s2 + s3)
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
