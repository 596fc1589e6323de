import Engine
import Randomness
import TensorFixtures
import XCTest
@testable import NN

final class PartialFCTests: XCTestCase {
    // MARK: the generator

    /// SplitMix64 from seed 1234567: the first outputs of Vigna's splitmix64.c (the published test
    /// vector, recomputed with Python integers: state += 0x9E3779B97F4A7C15, then the mix).
    func testGeneratorMatchesSplitMix64Reference() {
        var generator = HeadRandom(seed: 1_234_567)
        XCTAssertEqual((0..<5).map { _ in generator.next() },
                       [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
                        4_593_380_528_125_082_431, 16_408_922_859_458_223_821])
    }

    func testGeneratorStateRoundTripsThroughCodable() throws {
        var generator = HeadRandom(seed: 42)
        _ = generator.next()
        let restored = try JSONDecoder().decode(HeadRandom.self, from: JSONEncoder().encode(generator))
        var a = generator, b = restored
        XCTAssertEqual((0..<3).map { _ in a.next() }, (0..<3).map { _ in b.next() })
    }

    // MARK: sampling

    func testSampleHoldsEveryBatchClassHasTheRightSizeAndIsSorted() throws {
        var generator = HeadRandom(seed: 7)
        let labels = [93, 5, 5, 811, 0, 999, 93, 402]   // six distinct classes, two repeated
        for step in 0..<50 {
            let subset = try ClassSubset.sample(batchLabels: labels, classCount: 1000, sampleCount: 100, using: &generator)
            XCTAssertEqual(subset.classes.count, 100, "step \(step)")
            XCTAssertEqual(subset.classes, subset.classes.sorted(), "step \(step)")
            XCTAssertEqual(Set(subset.classes).count, 100, "step \(step): repeats")
            XCTAssertTrue(Set(labels).isSubset(of: subset.classes), "step \(step)")
            XCTAssertTrue(subset.classes.allSatisfy { (0..<1000).contains($0) })
            // Remapped labels point back at the original classes.
            XCTAssertEqual(subset.labels.map { subset.classes[$0] }, labels, "step \(step)")
        }
    }

    /// With fewer sampled rows than classes in the batch, the subset is exactly the batch's classes
    /// (arcface_torch's `index = positive`).
    func testTooSmallSampleKeepsExactlyTheBatchClasses() throws {
        var generator = HeadRandom(seed: 1)
        let subset = try ClassSubset.sample(batchLabels: [9, 2, 9, 40], classCount: 50, sampleCount: 2, using: &generator)
        XCTAssertEqual(subset.classes, [2, 9, 40])
        XCTAssertEqual(subset.labels, [1, 0, 1, 2])
    }

    /// Uniformity: 20 classes, batch classes {0, 5}, 8 rows, so 6 of the other 18 are drawn: each other
    /// class with probability 1/3. Over 3000 seeded draws each count is 1000 +- 25.8 (binomial sd);
    /// every count must lie within 5 sd, and the positives appear every time.
    func testOtherClassesAreDrawnUniformly() throws {
        var generator = HeadRandom(seed: 2026)
        var counts = [Int](repeating: 0, count: 20)
        for _ in 0..<3000 {
            let subset = try ClassSubset.sample(batchLabels: [5, 0], classCount: 20, sampleCount: 8, using: &generator)
            for c in subset.classes { counts[c] += 1 }
        }
        XCTAssertEqual(counts[0], 3000)
        XCTAssertEqual(counts[5], 3000)
        let standardDeviation = (3000.0 * (1.0 / 3) * (2.0 / 3)).squareRoot()
        for c in 0..<20 where c != 0 && c != 5 {
            XCTAssertLessThan(abs(Double(counts[c]) - 1000), 5 * standardDeviation, "class \(c): \(counts[c])")
        }
    }

    func testExplicitSubsetRemapsLabelsAndRejectsBadSubsets() throws {
        let subset = try ClassSubset(classes: [0, 3, 7, 19, 41], batchLabels: [7, 3, 41, 3])
        XCTAssertEqual(subset.labels, [2, 1, 4, 1])
        XCTAssertThrowsError(try ClassSubset(classes: [3, 0, 7], batchLabels: [7]))
        var generator = HeadRandom(seed: 1)
        XCTAssertThrowsError(try ClassSubset.sample(batchLabels: [2, -1], classCount: 5, sampleCount: 3, using: &generator))
        XCTAssertThrowsError(try ClassSubset(classes: [0, 3], batchLabels: [7])) { error in
            XCTAssertEqual((error as? HeadError)?.description, "class subset lacks class 7 of sample 0")
        }
    }

    // MARK: the head

    /// floor(r * classes) as Python's int(r * classes): int(0.3 * 50) = 15, int(0.1 * 93431) = 9343.
    func testSampleCountIsTheFloorOfRateTimesClasses() throws {
        XCTAssertEqual(try PartialFC(margin: .arcFace(), embeddingSize: 4, classCount: 50, sampleRate: 0.3, seed: 1).sampleCount, 15)
        XCTAssertEqual(try PartialFC(margin: .arcFace(), embeddingSize: 1, classCount: 93431, sampleRate: 0.1, seed: 1).sampleCount, 9343)
    }

    /// Centres are N(0, 0.01): over 64000 draws the mean is within 5 standard errors (5 * 0.01 / sqrt(64000)
    /// = 2e-4) of 0 and the standard deviation within 2% of 0.01 (its standard error is 0.3%); one seed
    /// gives one head.
    func testCentresAreSeededNormalWithStandardDeviationOneHundredth() throws {
        let head = try PartialFC(margin: .arcFace(), embeddingSize: 64, classCount: 1000, seed: 3)
        let values = head.weight.values.map(Double.init)
        let mean = values.reduce(0, +) / Double(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 2e-4)
        XCTAssertEqual(std, 0.01, accuracy: 2e-4)
        XCTAssertEqual(head.weight.name, "weight")
        XCTAssertEqual(head.weight.shape, [1000, 64])
        let again = try PartialFC(margin: .arcFace(), embeddingSize: 64, classCount: 1000, seed: 3)
        XCTAssertEqual(again.weight.values, head.weight.values)
        let other = try PartialFC(margin: .arcFace(), embeddingSize: 64, classCount: 1000, seed: 4)
        XCTAssertNotEqual(other.weight.values, head.weight.values)
    }

    /// partialfc_arcface.json: ArcFace (arcface_torch mode) on the 15 rows the script chose (its own
    /// arcface_torch-style draw, passed to both sides). Loss and gradients as in MarginLossTests; the 35
    /// rows outside the subset get an exactly zero gradient.
    func testFixedSubsetMatchesPyTorch() throws {
        let fixture = try Fixture("partialfc_arcface")
        let labels = fixture.ints("labels")
        let head = try PartialFC(margin: .arcFace(), embeddingSize: 16, classCount: 50, sampleRate: 0.3, seed: 1)
        head.weight.values = fixture.values("weight")
        let subset = try ClassSubset(classes: fixture.ints("subset"), batchLabels: labels)
        XCTAssertEqual(subset.classes.count, head.sampleCount)
        XCTAssertEqual(subset.labels, fixture.ints("remapped_labels"))   // torch.searchsorted

        let embeddings = fixture.tensor("embeddings", requiresGrad: true)
        let loss = try head.loss(embeddings, labels: labels, subset: subset)
        try loss.backward()
        assertClose([try loss.item()], fixture.values("loss"),
                          rtol: MarginTolerance.lossRtol, atol: MarginTolerance.lossAtol, "loss")
        let gradEmbeddings = fixture.values("grad_embeddings"), gradWeight = fixture.values("grad_weight")
        assertClose(try embeddings.grad!.values(), gradEmbeddings, rtol: MarginTolerance.gradientRtol,
                          atol: MarginTolerance.atol(gradEmbeddings), "d loss / d embeddings")
        let ours = try head.weight.grad!.values()
        assertClose(ours, gradWeight, rtol: MarginTolerance.gradientRtol,
                          atol: MarginTolerance.atol(gradWeight), "d loss / d class centres")
        for row in 0..<50 where !subset.classes.contains(row) {
            XCTAssertEqual(Array(ours[row * 16..<(row + 1) * 16]), [Float](repeating: 0, count: 16), "row \(row)")
        }
    }

    /// A sampling step uses the subset it reports, and a restored generator draws the same subsets again.
    func testSamplingStepUsesItsSubsetAndResumesExactly() throws {
        let fixture = try Fixture("partialfc_arcface")
        let labels = fixture.ints("labels")
        let head = try PartialFC(margin: .arcFace(), embeddingSize: 16, classCount: 50, sampleRate: 0.3, seed: 11)
        head.weight.values = fixture.values("weight")
        let saved = head.generator

        let sampled = try head.loss(fixture.tensor("embeddings"), labels: labels).item()
        let subset = try XCTUnwrap(head.lastSubset)
        XCTAssertEqual(subset.classes.count, 15)
        XCTAssertEqual(try head.loss(fixture.tensor("embeddings"), labels: labels, subset: subset).item(), sampled)

        let second = try head.loss(fixture.tensor("embeddings"), labels: labels).item()
        let secondSubset = try XCTUnwrap(head.lastSubset)
        head.generator = saved
        XCTAssertEqual(try head.loss(fixture.tensor("embeddings"), labels: labels).item(), sampled)
        XCTAssertEqual(head.lastSubset, subset)
        XCTAssertEqual(try head.loss(fixture.tensor("embeddings"), labels: labels).item(), second)
        XCTAssertEqual(head.lastSubset, secondSubset)
    }

    func testBadBatchesAndConfigurationsThrow() throws {
        XCTAssertThrowsError(try PartialFC(margin: .arcFace(), embeddingSize: 16, classCount: 50, sampleRate: 0, seed: 1))
        XCTAssertThrowsError(try PartialFC(margin: .arcFace(), embeddingSize: 16, classCount: 50, sampleRate: 1.5, seed: 1))
        XCTAssertThrowsError(try PartialFC(margin: .arcFace(), embeddingSize: 0, classCount: 50, seed: 1))
        let head = try PartialFC(margin: .arcFace(), embeddingSize: 4, classCount: 10, sampleRate: 0.5, seed: 1)
        let embeddings = Tensor(shape: [2, 4], repeating: 0.5)
        XCTAssertThrowsError(try head.loss(embeddings, labels: [3, 10])) { error in
            XCTAssertEqual((error as? HeadError)?.description,
                           "Partial FC: sample 1 has label 10, expected a class in 0..<10")
        }
        XCTAssertThrowsError(try head.loss(embeddings, labels: [3])) { error in
            XCTAssertEqual((error as? HeadError)?.description,
                           "Partial FC: embeddings must be [1, 4] for 1 labels, got [2, 4]")
        }
        let otherBatch = try ClassSubset(classes: [1, 3], batchLabels: [1, 3])
        XCTAssertThrowsError(try head.loss(embeddings, labels: [3, 1], subset: otherBatch))
    }
}
