import XCTest
@testable import Engine

/// The IResNet block of LayerTests run in bfloat16 (activations and in-primitive weights; weights,
/// statistics and weight gradients float32), against the same PyTorch float64 reference
/// (scripts/reference/engine_fixtures.py, iresnet_block).
///
/// Tolerance: bfloat16 keeps 8 significant bits (unit roundoff 2^-9 ~ 2e-3). Every layer rounds its
/// output once, the convolutions round their inputs and weights, so after six layers of O(1) values the
/// outputs carry errors of a few 1e-2 (BN renormalises, so errors do not grow with depth). atol 0.1 with
/// rtol 0.05 (observed: at most 0.5% of the largest magnitude of each tensor) is well below the O(1) errors of a wrong index, a missing term or a wrong sign, which this
/// test exists to catch; the float32 path is checked to 1e-4 in LayerTests.
final class BFloat16Tests: XCTestCase {
    func testIResNetBlockInBFloat16() throws {
        let block = try IResNetBlockFixture()
        let f = block.fixture, p = block.parameters
        let x = f.tensor("input", requiresGrad: true)
        let input = try x.converted(to: .bfloat16)
        XCTAssertEqual(input.dtype, .bfloat16)
        let y = try block.forward(input)
        XCTAssertEqual(y.dtype, .bfloat16, "convolutions, BN, PReLU and add compute in their input's type")
        assertClose(try y.values(), f.values("output"), rtol: 0.05, atol: 0.1, "bf16 block output")
        try backward(y, f)
        XCTAssertEqual(x.grad?.dtype, .float32, "the float32 input gets a float32 gradient")
        assertClose(try x.grad!.values(), f.values("grad_input"), rtol: 0.05, atol: 0.1, "bf16 block grad input")
        for name in IResNetBlockFixture.parameterNames {
            let grad = p[name]!.grad!
            XCTAssertEqual(grad.dtype, .float32)
            XCTAssertTrue(grad.isPlain)
            // Weight gradients sum over the batch and positions (up to 2x6x6 = 72 bfloat16 products per
            // element): allow 0.05 relative plus 0.1 absolute of magnitudes up to ~20.
            assertClose(try grad.values(), f.values("grad_" + name.replacingOccurrences(of: ".", with: "_")),
                        rtol: 0.05, atol: 0.1, "bf16 block grad \(name)")
        }
    }

    /// Flattening a bfloat16 activation and feeding it to linear computes the head in float32.
    func testHeadOfBFloat16TrunkComputesInFloat32() throws {
        let x = Tensor(shape: [2, 16, 2, 2], values: (0..<128).map { Float($0 % 7) - 3 })   // exact in bf16
        let w = Tensor(shape: [3, 64], values: (0..<192).map { Float($0 % 5) - 2 }, requiresGrad: true)
        let features = try x.converted(to: .bfloat16).flattened()
        let y = try linear(features, weight: w)
        XCTAssertEqual(y.dtype, .float32)
        let expected = try linear(x.flattened(), weight: w.detached()).values()
        XCTAssertEqual(try y.values(), expected, "small integers are exact in bfloat16 and float32")
    }
}

extension BFloat16Tests {
    /// Reductions and scaling of a bfloat16 tensor: values that bfloat16 holds exactly give exact results,
    /// and gradients reach the float32 leaf.
    func testSumAndScaleOfBFloat16() throws {
        let x = Tensor(shape: [2, 16, 1, 2], values: (0..<64).map { Float($0 % 9) - 4 }, requiresGrad: true)
        let half = try x.converted(to: .bfloat16)
        let loss = try half.scaled(by: 0.5).sum()
        XCTAssertEqual(try loss.item(), (0..<64).map { (Float($0 % 9) - 4) * 0.5 }.reduce(0, +))
        try loss.backward()
        XCTAssertEqual(try x.grad!.values(), Array(repeating: 0.5, count: 64))
    }
}

extension BFloat16Tests {
    /// A bfloat16 convolution with a float32 bias and stride 2 against the float32 fixture
    /// (scripts/reference/engine_fixtures.py, conv_s2_bias); tolerance as in the block test.
    func testConvolutionWithBiasInBFloat16() throws {
        let f = try Fixture("conv_s2_bias")
        let x = f.tensor("input", requiresGrad: true)
        let w = f.tensor("weight", requiresGrad: true), b = f.tensor("bias", requiresGrad: true)
        let y = try conv2d(x.converted(to: .bfloat16), weight: w, bias: b, stride: 2, padding: 1)
        XCTAssertEqual(y.dtype, .bfloat16)
        assertClose(try y.values(), f.values("output"), rtol: 0.05, atol: 0.1, "bf16 conv output")
        try backward(y, f)
        assertClose(try x.grad!.values(), f.values("grad_input"), rtol: 0.05, atol: 0.1, "bf16 conv grad input")
        assertClose(try w.grad!.values(), f.values("grad_weight"), rtol: 0.05, atol: 0.1, "bf16 conv grad weight")
        assertClose(try b.grad!.values(), f.values("grad_bias"), rtol: 0.05, atol: 0.1, "bf16 conv grad bias")
    }
}
