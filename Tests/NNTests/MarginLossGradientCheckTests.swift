import Engine
import TensorFixtures
import XCTest
@testable import NN

/// Finite-difference tier: central differences of the float32 loss on a tiny head (2 samples, 3-d
/// embeddings, 4 classes), against the gradient backward computes.
final class MarginLossGradientCheckTests: XCTestCase {
    // Chosen so every cosine stays well inside (-1, 1) and every p_target well above 1e-30, and the
    // target cosines are 0.77 and 0.68 (numpy: normalised rows, dot products).
    let embeddings: [Float] = [0.9, -0.4, 0.5, -0.3, 0.8, 0.6]
    let centres: [Float] = [1.0, 0.2, 0.1, -0.5, 0.9, -0.2, 0.3, 0.4, 1.1, -0.8, -0.6, 0.2]
    let labels = [0, 1]

    /// The loss of the head at (embeddings, centres); gradients on request.
    func loss(_ margin: CombinedMargin, _ x: [Float], _ w: [Float], gradients: Bool = false)
        throws -> (Float, [Float], [Float]) {
        let e = Tensor(shape: [2, 3], values: x, requiresGrad: gradients)
        let c = Tensor(shape: [4, 3], values: w, requiresGrad: gradients)
        let value = try flooredCrossEntropy(margin.logits(cosines: cosineLogits(e, centres: c), labels: labels), labels: labels)
        guard gradients else { return (try value.item(), [], []) }
        try value.backward()
        return (try value.item(), try e.grad!.values(), try c.grad!.values())
    }

    /// Central differences (f(v + h) - f(v - h)) / 2h of the loss in each coordinate of x and w.
    func numericGradients(_ margin: CombinedMargin, step h: Float) throws -> ([Float], [Float]) {
        var gradX: [Float] = [], gradW: [Float] = []
        for i in embeddings.indices {
            var plus = embeddings, minus = embeddings
            plus[i] += h; minus[i] -= h
            gradX.append((try loss(margin, plus, centres).0 - loss(margin, minus, centres).0) / (2 * h))
        }
        for i in centres.indices {
            var plus = centres, minus = centres
            plus[i] += h; minus[i] -= h
            gradW.append((try loss(margin, embeddings, plus).0 - loss(margin, embeddings, minus).0) / (2 * h))
        }
        return (gradX, gradW)
    }

    /// s = 16 keeps the curvature moderate: with h = 2e-3 the truncation error h^2 f''' / 6 and the
    /// float32 rounding of the loss (about 1e-6 / h) stay well below 1e-3 of the largest gradient element
    /// (measured: 5e-5 of it); tolerance rtol 1e-3 plus atol 1e-3 * max |numeric|.
    func testExactArcFaceGradientMatchesFiniteDifferences() throws {
        let margin = try CombinedMargin.arcFace(scale: 16, derivative: .exact)
        let (numericX, numericW) = try numericGradients(margin, step: 2e-3)
        let (_, gradX, gradW) = try loss(margin, embeddings, centres, gradients: true)
        let scale = (numericX + numericW).map(abs).max()!
        assertClose(gradX, numericX, rtol: 1e-3, atol: 1e-3 * scale, "d loss / d embeddings")
        assertClose(gradW, numericW, rtol: 1e-3, atol: 1e-3 * scale, "d loss / d centres")
    }

    /// arcface_torch's mode is not the derivative of its own forward value: against the same finite
    /// differences it is off by 50 times the tolerance above or more (the target's factor
    /// sin(theta + m) / sin(theta) is missing), while CosFace's margin is a true constant and matches.
    func testConstantShiftModeIsNotTheDerivativeButCosFaceIs() throws {
        let arcFace = try CombinedMargin.arcFace(scale: 16)
        let (numericX, numericW) = try numericGradients(arcFace, step: 2e-3)
        let (_, gradX, gradW) = try loss(arcFace, embeddings, centres, gradients: true)
        let scale = (numericX + numericW).map(abs).max()!
        let worst = zip(gradX + gradW, numericX + numericW).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(worst, 0.05 * scale)   // measured: 0.18 * scale

        let cosFace = try CombinedMargin.cosFace(scale: 16)
        let (cosNumericX, cosNumericW) = try numericGradients(cosFace, step: 2e-3)
        let (_, cosGradX, cosGradW) = try loss(cosFace, embeddings, centres, gradients: true)
        let cosScale = (cosNumericX + cosNumericW).map(abs).max()!
        assertClose(cosGradX + cosGradW, cosNumericX + cosNumericW, rtol: 1e-3, atol: 1e-3 * cosScale, "CosFace")
    }
}
