import Engine
import Foundation
import XCTest
@testable import NN
import TensorFixtures

/// Tolerances against the float64 PyTorch references. Our cosines carry float32 rounding of a few ulp
/// of 1 (normalise, a 16-term dot product: about 3e-7); s = 64 turns that into up to about 2e-5 on a logit
/// and so a relative error of that order on each softmax probability, though it mostly averages out. The
/// loss (about 10-20, a mean of log-sum-exps) moved by at most 2e-6 when measured: rtol 1e-6 plus atol
/// 1e-5. Gradients are sums of probabilities times unit vectors with cancellation, so their error is
/// relative to the largest element rather than to each one (the centres' gradient is about 150 times the
/// embeddings', as it scales with 1 / |w| = 1 / 0.04): rtol 2e-5 and atol 2e-5 * max |reference|. The
/// largest measured error is 1/12 of these (oneDNN's sgemm may pick other kernels elsewhere).
enum MarginTolerance {
    static let lossRtol: Float = 1e-6, lossAtol: Float = 1e-5
    static let gradientRtol: Float = 2e-5, gradientScaledAtol: Float = 2e-5

    static func atol(_ reference: [Float]) -> Float {
        gradientScaledAtol * reference.map(abs).max()!
    }
}

final class MarginLossTests: XCTestCase {
    /// Runs the head of `fixture` (sample rate 1: every class) and compares the cosines, the loss and both
    /// gradients with PyTorch's.
    private func checkAgainstTorch(_ name: String, margin: CombinedMargin) throws {
        let fixture = try Fixture(name)
        let labels = fixture.ints("labels")
        let head = try PartialFC(margin: margin, embeddingSize: 16, classCount: 50, seed: 1)
        head.weight.values = fixture.values("weight")
        let embeddings = fixture.tensor("embeddings", requiresGrad: true)

        let cosines = try cosineLogits(embeddings.detached(), centres: head.weight.tensor.detached())
        // Cosines are in [-1, 1]: a few float32 ulp of 1.
        assertClose(try cosines.values(), fixture.values("cosines"), rtol: 0, atol: 1e-6, "\(name) cosines")
        let logits = try margin.logits(cosines: cosines, labels: labels)
        // Logits = 64 * cos: the cosine tolerance times 64 (plus float32 acos/cos at the target).
        assertClose(try logits.values(), fixture.values("logits"), rtol: 0, atol: 1e-4, "\(name) logits")

        let loss = try head.loss(embeddings, labels: labels)
        try loss.backward()
        assertClose([try loss.item()], fixture.values("loss"),
                          rtol: MarginTolerance.lossRtol, atol: MarginTolerance.lossAtol, "\(name) loss")
        let gradEmbeddings = fixture.values("grad_embeddings"), gradWeight = fixture.values("grad_weight")
        assertClose(try embeddings.grad!.values(), gradEmbeddings, rtol: MarginTolerance.gradientRtol,
                          atol: MarginTolerance.atol(gradEmbeddings), "\(name) d loss / d embeddings")
        assertClose(try head.weight.grad!.values(), gradWeight, rtol: MarginTolerance.gradientRtol,
                          atol: MarginTolerance.atol(gradWeight), "\(name) d loss / d class centres")
    }

    func testArcFaceAsArcfaceTorchMatchesPyTorch() throws {
        try checkAgainstTorch("margin_arcface", margin: .arcFace())
    }

    func testArcFaceExactDerivativeMatchesPyTorch() throws {
        try checkAgainstTorch("margin_arcface_exact", margin: .arcFace(derivative: .exact))
    }

    func testCosFaceMatchesPyTorch() throws {
        try checkAgainstTorch("margin_cosface", margin: .cosFace())
    }

    func testInterclassFilteringMatchesPyTorch() throws {
        let fixture = try Fixture("margin_arcface_filter")
        XCTAssertGreaterThan(fixture.int("filtered_logits"), 0, "the fixture must filter some logits")
        try checkAgainstTorch("margin_arcface_filter", margin: .arcFace(interclassFilteringThreshold: 0.2))
    }

    /// The two ArcFace modes share the forward value but not the gradient (the fixtures differ by far
    /// more than the tolerance), so the fixtures above tell the modes apart.
    func testArcFaceModesDifferOnlyInTheGradient() throws {
        let torchMode = try Fixture("margin_arcface"), exact = try Fixture("margin_arcface_exact")
        XCTAssertEqual(torchMode.values("loss"), exact.values("loss"))
        let a = torchMode.values("grad_embeddings"), b = exact.values("grad_embeddings")
        let difference = zip(a, b).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(difference, 100 * MarginTolerance.atol(a))
    }

    /// The margins alone on crafted cosines, targets from -0.97 to 0.95 (theta + 0.5 > pi for -0.97 and
    /// -0.9), against margin_logits.json: logits and d(sum(logits * upstream)) / d cos.
    func testMarginsOnCraftedCosinesMatchPyTorch() throws {
        let fixture = try Fixture("margin_logits")
        let labels = fixture.ints("labels")
        let cases: [(String, CombinedMargin)] = [
            ("arcface", try .arcFace()), ("arcface_exact", try .arcFace(derivative: .exact)),
            ("cosface", try .cosFace()), ("arcface_filter", try .arcFace(interclassFilteringThreshold: 0.3)),
        ]
        for (key, margin) in cases {
            let cosines = fixture.tensor("cosines", requiresGrad: true)
            let logits = try margin.logits(cosines: cosines, labels: labels)
            try logits.backward(gradient: fixture.tensor("upstream"))
            // |logit| <= 64: float32 acos/cos of the target within a few ulp, times 64.
            assertClose(try logits.values(), fixture.values("logits_\(key)"), rtol: 1e-6, atol: 2e-5, "logits \(key)")
            // Gradient = 64 * upstream * (1 or sin(theta + m) / sin(theta)): float32 rounding of those factors.
            assertClose(try cosines.grad!.values(), fixture.values("grad_\(key)"), rtol: 1e-5, atol: 1e-5, "grad \(key)")
        }
    }

    /// Analytic tier. One row cos = [0.6, -0.2, 0.1], label 0, upstream [1, 1, 1], s = 64, m = 0.5:
    /// theta = acos(0.6); the target logit is 64 cos(theta + 0.5). Its gradient is 64 in the arcface_torch
    /// mode and 64 sin(theta + 0.5) / sin(theta) = 64 sin(theta + 0.5) / 0.8 exactly; the other two
    /// logits are 64 cos with gradient 64 in both modes.
    func testAnalyticArcFaceGradientPerMode() throws {
        let theta = Foundation.acos(0.6)
        let targetLogit = Float(64 * Foundation.cos(theta + 0.5))
        for (mode, targetGradient) in [(MarginDerivative.constantShift, Float(64)),
                                       (.exact, Float(64 * Foundation.sin(theta + 0.5) / 0.8))] {
            let cosines = Tensor(shape: [1, 3], values: [0.6, -0.2, 0.1], requiresGrad: true)
            let logits = try CombinedMargin.arcFace(derivative: mode).logits(cosines: cosines, labels: [0])
            try logits.backward(gradient: Tensor(shape: [1, 3], repeating: 1))
            // float32 acos/cos: a few ulp of the logit (64 * 1e-7).
            assertClose(try logits.values(), [targetLogit, -12.8, 6.4], rtol: 1e-6, atol: 1e-5, "logits \(mode)")
            assertClose(try cosines.grad!.values(), [targetGradient, 64, 64], rtol: 1e-5, atol: 0, "gradient \(mode)")
        }
    }

    /// Analytic tier for the floor. Logits [0, 100], label 0: log p_0 = -100 - log(1 + e^-100) < log(1e-30),
    /// so the loss is -log(1e-30) = 69.0776 (not 100), and the gradient stays softmax - onehot =
    /// [e^-100 - 1, 1 - e^-100] = [-1, 1] in float32 (arcface_torch's backward ignores the floor).
    func testProbabilityFloorCapsTheValueButNotTheGradient() throws {
        let logits = Tensor(shape: [1, 2], values: [0, 100], requiresGrad: true)
        let loss = try flooredCrossEntropy(logits, labels: [0])
        try loss.backward()
        XCTAssertEqual(try loss.item(), -Foundation.log(Float(1e-30)), accuracy: 1e-5)
        XCTAssertEqual(try loss.item(), 69.07755, accuracy: 1e-4)
        assertClose(try logits.grad!.values(), [-1, 1], rtol: 0, atol: 1e-6, "floored gradient")

        // Above the floor it is the ordinary cross entropy: logits [0, 1], label 0: log(1 + e) = 1.3132617.
        let plain = try flooredCrossEntropy(Tensor(shape: [1, 2], values: [0, 1]), labels: [0])
        XCTAssertEqual(try plain.item(), 1.3132617, accuracy: 1e-6)
    }

    func testFilteringZeroesOnlyNonTargetLogitsAboveTheThreshold() throws {
        // Row 0: label 1 (0.9 is the target, kept); 0.5 > 0.4 zeroed; 0.3 kept. s = 1, CosFace margin 0.
        let margin = try CombinedMargin(scale: 1, m1: 1, m2: 0, m3: 0, interclassFilteringThreshold: 0.4)
        let cosines = Tensor(shape: [1, 3], values: [0.5, 0.9, 0.3], requiresGrad: true)
        let logits = try margin.logits(cosines: cosines, labels: [1])
        try logits.backward(gradient: Tensor(shape: [1, 3], repeating: 1))
        XCTAssertEqual(try logits.values(), [0, 0.9, 0.3])
        XCTAssertEqual(try cosines.grad!.values(), [0, 1, 1])
    }

    func testInvalidConfigurationsAndLabelsThrow() throws {
        XCTAssertThrowsError(try CombinedMargin(scale: 0, m1: 1, m2: 0.5, m3: 0))
        XCTAssertThrowsError(try CombinedMargin(m1: 0, m2: 0.5, m3: 0))
        XCTAssertThrowsError(try CombinedMargin(m1: 1, m2: .nan, m3: 0))
        XCTAssertThrowsError(try CombinedMargin(m1: 1, m2: 0.5, m3: 0, interclassFilteringThreshold: -0.1))
        let cosines = Tensor(shape: [2, 3], repeating: 0.1)
        XCTAssertThrowsError(try CombinedMargin.arcFace().logits(cosines: cosines, labels: [0, 3])) { error in
            XCTAssertEqual((error as? HeadError)?.description,
                           "CombinedMargin: sample 1 has label 3, expected a class in 0..<3")
        }
        XCTAssertThrowsError(try flooredCrossEntropy(cosines, labels: [0]))
    }
}
