import Foundation
import Randomness
import XCTest
@testable import FaceData

final class SynthTests: XCTestCase {
    private func config(seed: UInt64 = 7, pairs: Int = 40) -> SynthConfig {
        SynthConfig(identities: 3, imagesPerIdentity: 4, imageSize: 32, seed: seed, pairs: pairs)
    }

    /// The same seed gives the same bytes whether images are encoded in one parallel batch or one at a
    /// time; another seed gives other images.
    func testDeterministicForASeedWhateverTheBatching() throws {
        let faces = try SyntheticFaces(config())
        let batch = try faces.encoded(.training, 0..<faces.trainingImageCount)
        let oneByOne = try (0..<faces.trainingImageCount).map { try faces.encoded(.training, $0..<($0 + 1))[0] }
        XCTAssertEqual(batch, oneByOne)
        XCTAssertEqual(try SyntheticFaces(config()).encoded(.pair, 0..<80), try faces.encoded(.pair, 0..<80))

        let other = try SyntheticFaces(config(seed: 8))
        let otherBatch = try other.encoded(.training, 0..<other.trainingImageCount)
        for (a, b) in zip(batch, otherBatch) { XCTAssertNotEqual(a, b) }
        XCTAssertNotEqual(faces.identity(0), other.identity(0))
        XCTAssertEqual(faces.identity(2), try SyntheticFaces(config()).identity(2))
    }

    /// Images are S x S, every image of the set differs from every other, and labels group images by identity.
    func testShapesLabelsAndDistinctImages() throws {
        let faces = try SyntheticFaces(config())
        XCTAssertEqual(faces.trainingImageCount, 12)
        XCTAssertEqual((0..<12).map(faces.trainingLabel), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
        let images = (0..<12).map { faces.trainingImage($0).image }
        for image in images {
            XCTAssertEqual(image.width, 32)
            XCTAssertEqual(image.height, 32)
        }
        XCTAssertEqual(Set(images.map(\.pixels)).count, 12)
        let decoded = try JPEGCodec().decode(try faces.encoded(.training, 0..<1)[0], source: "synth")
        XCTAssertEqual(decoded.width, 32)
        XCTAssertEqual(faces.config.heldOutIdentities, 20, "pairs / 2 held out")
    }

    /// Each of the 10 contiguous folds holds as many same as different pairs, and pairs use only held-out
    /// identities (numbered from the training identity count upwards).
    func testPairFoldsAreBalancedAndHeldOut() throws {
        let config = SynthConfig(identities: 5, imagesPerIdentity: 1, imageSize: 16, seed: 3, pairs: 200,
                                 pairIdentities: 9)
        let faces = try SyntheticFaces(config)
        XCTAssertEqual(faces.pairs.count, 200)
        for fold in 0..<10 {
            let slice = faces.pairs[(fold * 20)..<((fold + 1) * 20)]
            XCTAssertEqual(slice.filter(\.same).count, 10, "fold \(fold)")
        }
        let used = Set(faces.pairs.flatMap { [$0.first, $0.second] })
        XCTAssertTrue(used.allSatisfy { (5..<14).contains($0) }, "\(used.sorted())")
        XCTAssertEqual(used.count, 9, "200 pairs over 9 held-out identities use all of them")
        // The shuffle interleaves same and different pairs within a fold rather than leaving two blocks.
        let firstFold = faces.pairs[0..<20].map(\.same)
        XCTAssertNotEqual(firstFold, [Bool](repeating: true, count: 10) + [Bool](repeating: false, count: 10))
    }

    /// The writer's manifest identifies a complete set for reuse; a folder without one is not a set.
    func testWriterManifestIdentifiesACachedSet() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("synth-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertNil(SynthWriter.existingSet(at: directory))
        let config = SynthConfig(identities: 2, imagesPerIdentity: 2, imageSize: 16, seed: 9, pairs: 20)
        let summary = try SynthWriter.write(try SyntheticFaces(config), to: directory, format: .rec)
        XCTAssertEqual(summary.trainingImages, 4)
        XCTAssertEqual(summary.pairImages, 40)
        let existing = try XCTUnwrap(SynthWriter.existingSet(at: directory))
        XCTAssertEqual(existing.config, config)
        XCTAssertEqual(existing.format, .rec)
        XCTAssertThrowsError(try SynthWriter.write(try SyntheticFaces(config), to: directory, format: .rec)) { error in
            XCTAssertTrue("\(error)".contains("the output folder must be empty"), "\(error)")
        }
    }

    func testInvalidSettingsNameTheFlag() {
        let cases: [(SynthConfig, String)] = [
            (SynthConfig(identities: 0), "--identities must be at least 1; got 0"),
            (SynthConfig(imagesPerIdentity: 0), "--images-per-identity must be at least 1; got 0"),
            (SynthConfig(imageSize: 8), "--image-size must be between 16 and 1024 pixels; got 8"),
            (SynthConfig(pairs: 30), "got 30"),
            (SynthConfig(pairs: 20, pairIdentities: 1), "--pair-identities must be at least 2"),
            (SynthConfig(difficulty: 4), "--difficulty must be between 0 and 3; got 4.0"),
            (SynthConfig(difficulty: .nan), "--difficulty must be between 0 and 3"),
        ]
        for (config, message) in cases {
            XCTAssertThrowsError(try SyntheticFaces(config)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
    }

    /// Pixel distances derived by hand on 1x1 images: white (1,1,1)/sqrt(3) and black (-1,-1,-1)/sqrt(3)
    /// are opposite (distance 4); magenta (1,-1,1)/sqrt(3) has cosine 1/3 with white, distance 2 - 2/3.
    func testPixelDistancesByHand() throws {
        let white = RGBImage(width: 1, height: 1, pixels: [255, 255, 255])
        let black = RGBImage(width: 1, height: 1, pixels: [0, 0, 0])
        let magenta = RGBImage(width: 1, height: 1, pixels: [255, 0, 255])
        let distances = try SynthBaseline.pixelDistances([white, black, magenta, white, white, white])
        XCTAssertEqual(distances[0], 4, accuracy: 1e-12)
        XCTAssertEqual(distances[1], 4.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(distances[2], 0, accuracy: 1e-12)
        XCTAssertThrowsError(try SynthBaseline.pixelDistances([white]))
    }

    /// 20 pairs, 2 per fold: same pairs at distance 0.5, different at 1.5, except the different pair of
    /// fold 0, at 0.2. Every threshold in (0.5, 1.5] separates the other 18 pairs, and none can also get
    /// the 0.2 pair right without losing a same pair, so each fold picks the first threshold above 0.5,
    /// 0.51; fold 0 then scores 1 of 2 and every other fold 2 of 2: mean 0.95, population std 0.15.
    func testTenFoldAccuracyByHand() throws {
        var distances: [Double] = [], same: [Bool] = []
        for fold in 0..<10 {
            distances += [0.5, fold == 0 ? 0.2 : 1.5]
            same += [true, false]
        }
        let result = try SynthBaseline.tenFoldAccuracy(distances: distances, same: same)
        XCTAssertEqual(result.foldAccuracies, [0.5] + [Double](repeating: 1, count: 9))
        // 51 * 0.01 as numpy's arange computes it, which need not be the double nearest 0.51.
        for threshold in result.thresholds { XCTAssertEqual(threshold, 0.51, accuracy: 1e-12) }
        XCTAssertEqual(result.mean, 0.95, accuracy: 1e-12)
        XCTAssertEqual(result.standardDeviation, 0.15, accuracy: 1e-12)
        XCTAssertThrowsError(try SynthBaseline.tenFoldAccuracy(distances: [1, 2], same: [true, false]))
    }

    /// Against scripts/reference/synth_baseline.py (NumPy 1.24): 65 pairs of 4x4 images, folds of 7 and 6.
    func testPixelBaselineMatchesNumPyReference() throws {
        struct Fixture: Decodable {
            var size: [Int]
            var images: [[UInt8]]
            var same: [Bool]
            var distances: [Double]
            var thresholds: [Double]
            var fold_accuracies: [Double]
            var mean: Double
            var std: Double
        }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/synth_baseline.json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        let images = fixture.images.map { RGBImage(width: fixture.size[1], height: fixture.size[0], pixels: $0) }
        let distances = try SynthBaseline.pixelDistances(images)
        // Both sides sum 48 float64 squares in different orders: agreement to a few ulps.
        for (ours, reference) in zip(distances, fixture.distances) {
            XCTAssertEqual(ours, reference, accuracy: 1e-12 + 1e-12 * abs(reference))
        }
        let result = try SynthBaseline.tenFoldAccuracy(distances: distances, same: fixture.same)
        XCTAssertEqual(result.thresholds.count, 10)
        for (ours, reference) in zip(result.thresholds, fixture.thresholds) {
            XCTAssertEqual(ours, reference, accuracy: 1e-12)
        }
        XCTAssertEqual(result.foldAccuracies, fixture.fold_accuracies)
        XCTAssertEqual(result.mean, fixture.mean, accuracy: 1e-12)
        XCTAssertEqual(result.standardDeviation, fixture.std, accuracy: 1e-12)
    }

    /// The pixel baseline is far from perfect at the default difficulty and clearly easier at difficulty 0
    /// (a small sample: 200 pairs of 32x32 images; the documented figures use 2000 pairs of 112x112).
    func testDefaultDifficultyIsNotTriviallySeparable() throws {
        func baseline(_ difficulty: Double) throws -> Double {
            let faces = try SyntheticFaces(SynthConfig(identities: 1, imagesPerIdentity: 1, imageSize: 32, seed: 1,
                                                       pairs: 200, difficulty: difficulty))
            let codec = JPEGCodec()
            let images = try faces.encoded(.pair, 0..<400).map { try codec.decode($0, source: "synth") }
            return try SynthBaseline.tenFoldAccuracy(distances: SynthBaseline.pixelDistances(images),
                                                     same: faces.pairs.map(\.same)).mean
        }
        let hard = try baseline(1), easy = try baseline(0)
        XCTAssertLessThan(hard, 0.8, "default difficulty")
        XCTAssertGreaterThan(easy, hard + 0.1, "difficulty 0 vs 1")
    }

    /// The SplitMix64 extension: derived streams depend on every key and its position; unit() is uniform
    /// on [0, 1) and below(n) on 0..<n.
    func testRandomDraws() {
        var a = SplitMix64.derived(1, 2, 3), b = SplitMix64.derived(1, 2, 3), c = SplitMix64.derived(1, 3, 2)
        XCTAssertEqual(a.next(), b.next())
        var fresh = SplitMix64.derived(1, 2, 3)
        XCTAssertNotEqual(fresh.next(), c.next())
        var total: Float = 0, counts = [Int](repeating: 0, count: 5)
        for _ in 0..<10_000 {
            let u = a.unit()
            XCTAssertTrue(u >= 0 && u < 1)
            total += u
            counts[b.below(5)] += 1
        }
        // Mean 1/2 within 4 standard errors (sqrt(1/12 / 10000) = 0.0029); each of 5 values about 2000
        // times, within 4 standard deviations (sqrt(10000 * 0.2 * 0.8) = 40).
        XCTAssertEqual(total / 10_000, 0.5, accuracy: 0.012)
        for count in counts { XCTAssertEqual(count, 2000, accuracy: 160) }
        // The noise table has unit variance (the triangular distribution on [-sqrt 6, sqrt 6]).
        let table = FaceRenderer.triangularQuantiles
        let variance = table.reduce(0) { $0 + $1 * $1 } / Float(table.count)
        XCTAssertEqual(variance, 1, accuracy: 0.01)
        XCTAssertEqual(table.reduce(0, +), 0, accuracy: 1e-3)
    }
}
