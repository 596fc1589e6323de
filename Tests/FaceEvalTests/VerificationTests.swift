import FaceData
import XCTest
@testable import FaceEval

/// Expected values: scripts/reference/eval_fixtures.py (verification.json), which runs insightface's
/// verification arithmetic with numpy 1.24 and scikit-learn 1.2.1 (KFold, normalize, roc_curve, auc).
final class VerificationTests: XCTestCase {
    struct Case {
        var name: String
        var original: [[Float]], flipped: [[Float]]
        var isSame: [Bool]
        var json: [String: Any]
    }

    func embeddingCases() throws -> [Case] {
        let cases = try XCTUnwrap(try Fixture.load("verification.json")["embeddingCases"] as? [[String: Any]])
        return try cases.map { json in
            let dimension = try XCTUnwrap(json["dimension"] as? Int)
            return Case(name: try XCTUnwrap(json["name"] as? String),
                        original: Fixture.rows(try Fixture.decode(json["original"], as: Float.self), dimension: dimension),
                        flipped: Fixture.rows(try Fixture.decode(json["flipped"], as: Float.self), dimension: dimension),
                        isSame: try XCTUnwrap(json["isSame"] as? [Bool]), json: json)
        }
    }

    func testXNormAndDistancesMatchInsightface() throws {
        for c in try embeddingCases() {
            // Both sides sum float64 squares of the same float32 values; only the summation order differs
            // (BLAS/einsum vs a loop), so agreement is to a few ulps: rtol 1e-12.
            assertClose(Verification.xNorm(original: c.original, flipped: c.flipped),
                        try XCTUnwrap(c.json["xNorm"] as? Double), rtol: 1e-12, atol: 0, "\(c.name) xNorm")
            let fused = try Verification.fusedEmbeddings(original: c.original, flipped: c.flipped)
            // Squared distances lie in [0, 4]; atol 1e-12 covers summation-order differences.
            assertClose(Verification.squaredDistances(pairsOf: fused),
                        try Fixture.decode(c.json["distances"], as: Double.self), rtol: 0, atol: 1e-12,
                        "\(c.name) distances")
            assertClose(Verification.cosineSimilarities(pairsOf: fused),
                        try Fixture.decode(c.json["cosine"], as: Double.self), rtol: 0, atol: 1e-12,
                        "\(c.name) cosine")
        }
    }

    func testTenFoldAccuracyMatchesInsightface() throws {
        for c in try embeddingCases() {
            let report = try Verification.evaluate(original: c.original, flipped: c.flipped, isSame: c.isSame)
            // Fold accuracies are ratios of integer counts, and the distances agree to 1e-12 while the
            // nearest distance to a threshold is far larger (random data), so they match exactly; mean and
            // std then differ only by summation order: rtol 1e-12.
            XCTAssertEqual(report.foldAccuracies, try Fixture.doubles(c.json["foldAccuracies"]), c.name)
            XCTAssertEqual(report.bestThresholds, try Fixture.doubles(c.json["bestThresholds"]), c.name)
            assertClose(report.accuracyMean, try XCTUnwrap(c.json["accuracyMean"] as? Double),
                        rtol: 1e-12, atol: 1e-15, "\(c.name) mean")
            assertClose(report.accuracyStandardDeviation, try XCTUnwrap(c.json["accuracyStd"] as? Double),
                        rtol: 1e-12, atol: 1e-15, "\(c.name) std")
            XCTAssertEqual(report.pairCount, c.isSame.count)
            // evaluate() sums XNorm in its own pass; same terms, another order: rtol 1e-12.
            assertClose(report.xNorm, try XCTUnwrap(c.json["xNorm"] as? Double), rtol: 1e-12, atol: 0, "\(c.name) xNorm")
        }
    }

    func testROCOverPairsMatchesSklearn() throws {
        for c in try embeddingCases() {
            let report = try Verification.evaluate(original: c.original, flipped: c.flipped, isSame: c.isSame)
            guard let expectedAUC = c.json["auc"] as? Double else {
                // all_same_57: every pair is "same", sklearn's roc_curve has no negatives; we report none.
                XCTAssertNil(report.rocAUC, c.name)
                XCTAssertNil(report.tarAtFAR, c.name)
                XCTAssertTrue(c.isSame.allSatisfy { $0 }, c.name)
                continue
            }
            // The trapezoid sum over the same points, summed in another order: rtol 1e-12.
            assertClose(try XCTUnwrap(report.rocAUC), expectedAUC, rtol: 1e-12, atol: 0, "\(c.name) AUC")
            let table = try Fixture.table(c.json["tarAtFAR"])
            let tars = try XCTUnwrap(report.tarAtFAR)
            XCTAssertEqual(tars.map(\.far), table.far)
            // TAR and achieved FAR are ratios of counts at the same ROC point: exact.
            XCTAssertEqual(tars.map(\.tar), table.tar, c.name)
            XCTAssertEqual(tars.map(\.achievedFAR), table.achievedFAR, c.name)
        }
    }

    func testDistancesOnTheThresholdGridUseStrictLessThan() throws {
        let cases = try XCTUnwrap(try Fixture.load("verification.json")["distanceCases"] as? [[String: Any]])
        for json in cases {
            // Every distance equals some threshold k * 0.01 exactly (or lies above all of them): a distance
            // equal to the threshold must count as "different", as np.less decides. Exact comparisons.
            let distances = try Fixture.decode(json["distances"], as: Double.self)
            let isSame = try XCTUnwrap(json["isSame"] as? [Bool])
            let result = try ThresholdFolds.insightface.evaluate(distances: distances, isSame: isSame)
            XCTAssertEqual(result.foldAccuracies, try Fixture.doubles(json["foldAccuracies"]))
            XCTAssertEqual(result.bestThresholds, try Fixture.doubles(json["bestThresholds"]))
            assertClose(result.standardDeviation, try XCTUnwrap(json["accuracyStd"] as? Double),
                        rtol: 1e-12, atol: 1e-15, "std")
        }
    }

    func testFoldsAreSizedAsSklearnKFold() throws {
        // 403 = 10 * 40 + 3: the first three folds get 41 pairs (sklearn's KFold fold_sizes rule).
        let folds = try KFold.folds(count: 403, foldCount: 10)
        XCTAssertEqual(folds.map(\.count), [41, 41, 41, 40, 40, 40, 40, 40, 40, 40])
        XCTAssertEqual(folds.first?.lowerBound, 0)
        XCTAssertEqual(folds.last?.upperBound, 403)
        XCTAssertEqual(zip(folds, folds.dropFirst()).filter { $0.upperBound != $1.lowerBound }.count, 0)
        XCTAssertThrowsError(try KFold.folds(count: 9, foldCount: 10)) { error in
            XCTAssertEqual(error as? EvaluationError, .tooFewPairs(pairs: 9, folds: 10))
        }
    }

    func testHandDerivedTinyCase() throws {
        // Two folds of two pairs. Fold 0: same at 0.30, different at 0.80; fold 1: same at 0.50,
        // different at 0.40. Training on fold 1 alone: thresholds in (0.40, 0.50] would call both wrong or
        // one right... the best is 1 of 2 right, first reached at t = 0.00 (everything "different": the
        // different pair is right). Held-out fold 0 at t = 0: same pair wrong, different right: 0.5.
        // Training on fold 0: t in (0.30, 0.80] gets both right; first such grid value is 0.31.
        // Held-out fold 1 at 0.31: same 0.50 -> "different" (wrong), 0.40 -> "different" (right): 0.5.
        let result = try ThresholdFolds(foldCount: 2, thresholdStep: 0.01, thresholdCount: 400)
            .evaluate(distances: [0.30, 0.80, 0.50, 0.40], isSame: [true, false, true, false])
        XCTAssertEqual(result.bestThresholds, [0.0, 0.31])
        XCTAssertEqual(result.foldAccuracies, [0.5, 0.5])
        XCTAssertEqual(result.mean, 0.5)
        XCTAssertEqual(result.standardDeviation, 0)
    }

    func testBinningAgreesWithDirectComparisonNearGridValues() {
        let grid = ThresholdFolds.insightface
        var distances: [Double] = [-1, 0, 4, 3.99, .nan, .infinity, 1e-300]
        for k in 0..<400 {
            let t = Double(k) * 0.01
            distances += [t, t.nextUp, t.nextDown, t + 0.005]
        }
        for d in distances {
            let direct = (0..<400).first { d < grid.threshold($0) } ?? 400
            XCTAssertEqual(grid.firstThresholdAbove(d), direct, "distance \(d)")
        }
    }

    func testLogLinesUseInsightfaceFormats() {
        XCTAssertEqual(InsightFaceLog.xNorm(set: "lfw", step: 2000, 22.56789123), "[lfw][2000]XNorm: 22.567891")
        XCTAssertEqual(InsightFaceLog.accuracyFlip(set: "lfw", step: 2000, mean: 0.99516666, standardDeviation: 0.0034),
                       "[lfw][2000]Accuracy-Flip: 0.99517+-0.00340")
        XCTAssertEqual(InsightFaceLog.accuracyHighest(set: "cfp_fp", step: 4000, 0.9),
                       "[cfp_fp][4000]Accuracy-Highest: 0.90000")
    }

    func testEmbedderPathFlipsImagesAndChecksShapes() throws {
        // A fake embedder that reads the left-most column: the mirror image must show the right-most one.
        var images: [RGBImage] = []
        for i in 0..<20 {
            var image = RGBImage(width: 4, height: 2)
            image.pixels[0] = UInt8(10 + i)          // left column, top row, red
            image.pixels[3 * 3] = UInt8(100 + i)     // right column, top row, red
            images.append(image)
        }
        var seen: [Float] = []
        let embedder = ClosureEmbedder { batch in
            batch.map { image in
                seen.append(Float(image.pixels[0]))
                return [Float(image.pixels[0]), 1]
            }
        }
        let report = try Verification.evaluate(images: images, isSame: Array(repeating: true, count: 10),
                                               embedder: embedder, batchSize: 3)
        XCTAssertEqual(Array(seen.prefix(20)), (0..<20).map { Float(10 + $0) })
        XCTAssertEqual(Array(seen.suffix(20)), (0..<20).map { Float(100 + $0) })
        // XNorm by hand: mean of sqrt(v^2 + 1) over the 40 raw rows.
        let expected = seen.reduce(0.0) { $0 + (Double($1) * Double($1) + 1).squareRoot() } / 40
        assertClose(report.xNorm, expected, rtol: 1e-12, atol: 0, "xNorm")

        let wrong = ClosureEmbedder { batch in batch.dropLast().map { _ in [1, 2] } }
        XCTAssertThrowsError(try Verification.evaluate(images: images, isSame: Array(repeating: true, count: 10),
                                                       embedder: wrong)) { error in
            XCTAssertEqual(error as? EvaluationError, .embedderOutput(expected: "20 rows", found: "19 rows"))
        }
    }

    /// `features` (what `haarface embed` writes and `verify` compares) is the flip fusion `evaluate` scores:
    /// the report from its rows' squared distances is `evaluate(images:)`'s, exactly. A zero sum stays a zero row
    /// (sklearn's `normalize`: 0 / 0 is not taken), in `features` and `fusedEmbeddings` alike; a tiny one is
    /// still normalised to unit length (no floor on the norm).
    func testFeaturesAreTheFusionEvaluateScoresAndZeroRowsStayZero() throws {
        // Rows from the left and right top pixels, so an image and its mirror embed differently; image 5 and
        // its mirror embed to opposite rows (a zero sum), image 7 to a tiny one.
        var images: [RGBImage] = []
        for i in 0..<20 {
            var image = RGBImage(width: 4, height: 2)
            image.pixels[0] = UInt8(10 + 7 * i)
            image.pixels[3 * 3] = UInt8(200 - 3 * i)
            images.append(image)
        }
        let embedder = ClosureEmbedder { batch in
            batch.map { image in
                let left = Float(image.pixels[0]), right = Float(image.pixels[9])
                if left == 45 || right == 45 { return left == 45 ? [1, -2, 3] : [-1, 2, -3] }   // image 5
                if left == 59 || right == 59 { return left == 59 ? [1e-30, 0, 0] : [1e-30, 1e-30, 0] }   // image 7
                return [left, right - 2 * left, 1]
            }
        }
        let isSame = (0..<10).map { $0 % 3 != 0 }
        let features = try Verification.features(of: images, embedder: embedder, batchSize: 3)
        XCTAssertEqual(features[5], [0, 0, 0])
        XCTAssertEqual(features[7][0], 2 / Double(5).squareRoot(), accuracy: 1e-15)
        for (index, row) in features.enumerated() where index != 5 {
            XCTAssertEqual(row.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-15, "row \(index)")
        }
        let original = try embedder.embed(images), flipped = try embedder.embed(images.map { $0.flippedHorizontally() })
        XCTAssertEqual(features, try Verification.fusedEmbeddings(original: original, flipped: flipped))

        let folds = ThresholdFolds(foldCount: 5, thresholdStep: 0.01, thresholdCount: 400)
        let fromFeatures = try folds.evaluate(distances: Verification.squaredDistances(pairsOf: features), isSame: isSame)
        let report = try Verification.evaluate(original: original, flipped: flipped, isSame: isSame, protocol: folds)
        XCTAssertEqual(report.foldAccuracies, fromFeatures.foldAccuracies)
        XCTAssertEqual(report.bestThresholds, fromFeatures.bestThresholds)
        let viaImages = try Verification.evaluate(images: images, isSame: isSame, embedder: embedder, batchSize: 3)
        XCTAssertEqual(viaImages.rocAUC, try ROCCurve(scores: Verification.cosineSimilarities(pairsOf: features), isSame: isSame).area)

        // Without the flip: f(x) normalised by the same rule.
        let plain = try Verification.features(of: images, embedder: embedder, flip: false)
        XCTAssertEqual(plain[0], original[0].map { Double($0) / original[0].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() })
        XCTAssertEqual(try Verification.features(of: [images[5]], embedder: ClosureEmbedder { $0.map { _ in [0, 0] } }, flip: false),
                       [[0, 0]])
    }

    func testMismatchedInputsThrow() {
        XCTAssertThrowsError(try Verification.evaluate(original: [[1]], flipped: [[1]], isSame: [true])) { error in
            XCTAssertEqual(error as? EvaluationError,
                           .countMismatch(what: "embeddings for 1 pairs", expected: 2, found: 1))
        }
        XCTAssertThrowsError(try Verification.fusedEmbeddings(original: [[1, .nan]], flipped: [[1, 2]])) { error in
            XCTAssertEqual(error as? EvaluationError, .nonFinite(what: "embedding", index: 0))
        }
    }
}
