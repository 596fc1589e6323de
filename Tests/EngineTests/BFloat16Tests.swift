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
        let f = try Fixture("iresnet_block")
        let x = f.tensor("input", requiresGrad: true)
        let names = ["bn1.weight", "bn1.bias", "conv1.weight", "bn2.weight", "bn2.bias", "prelu.weight",
                     "conv2.weight", "bn3.weight", "bn3.bias", "downsample.0.weight", "downsample.1.weight",
                     "downsample.1.bias"]
        var p: [String: Parameter] = [:]
        for name in names { p[name] = Parameter(name: name, shape: f.shape(name), values: f.values(name)) }
        func bn(_ t: Tensor, _ prefix: String) throws -> Tensor {
            try batchNorm(t, weight: p[prefix + ".weight"]!.tensor, bias: p[prefix + ".bias"]!.tensor,
                          runningMean: nil, runningVar: nil, training: true)
        }
        let input = try x.converted(to: .bfloat16)
        XCTAssertEqual(input.dtype, .bfloat16)
        var out = try bn(input, "bn1")
        out = try conv2d(out, weight: p["conv1.weight"]!.tensor, padding: 1)
        XCTAssertEqual(out.dtype, .bfloat16, "convolutions compute in their input's type")
        out = try bn(out, "bn2")
        out = try prelu(out, weight: p["prelu.weight"]!.tensor)
        out = try conv2d(out, weight: p["conv2.weight"]!.tensor, stride: 2, padding: 1)
        out = try bn(out, "bn3")
        let shortcut = try bn(conv2d(input, weight: p["downsample.0.weight"]!.tensor, stride: 2), "downsample.1")
        let y = try out + shortcut
        XCTAssertEqual(y.dtype, .bfloat16)
        assertClose(try y.values(), f.values("output"), rtol: 0.05, atol: 0.1, "bf16 block output")
        try backward(y, f)
        XCTAssertEqual(x.grad?.dtype, .float32, "the float32 input gets a float32 gradient")
        assertClose(try x.grad!.values(), f.values("grad_input"), rtol: 0.05, atol: 0.1, "bf16 block grad input")
        for name in names {
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
