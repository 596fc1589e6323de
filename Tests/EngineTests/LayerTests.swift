import CDNNL
import XCTest
@testable import Engine

/// Forward and backward of the fused oneDNN layers against PyTorch 1.13
/// (fixtures from scripts/reference/engine_fixtures.py).
///
/// Tolerances: the reference is exact (float64) for float32 inputs; a float32 dot product of K terms of
/// magnitude ~1 carries a rounding error of about sqrt(K) * 6e-8 relative to the sum of |terms|, which
/// for the largest K here (a 32x3x3 weight-gradient reduction over 2x7x7 outputs, K ~ 1e3) stays below
/// 1e-5 of the magnitudes involved; rtol 1e-4 with atol 1e-4 leaves headroom for oneDNN's reordered
/// summation without hiding a wrong index or a missed term (those produce O(1) errors).
final class LayerTests: XCTestCase {
    let rtol: Float = 1e-4, atol: Float = 1e-4

    func checkConv(_ name: String) throws {
        let f = try Fixture(name)
        let inputNeedsGrad = f.has("grad_input")
        let x = f.tensor("input", requiresGrad: inputNeedsGrad)
        let w = f.tensor("weight", requiresGrad: true)
        let b = f.has("bias") ? f.tensor("bias", requiresGrad: true) : nil
        let y = try conv2d(x, weight: w, bias: b, stride: f.int("stride"), padding: f.int("padding"),
                           groups: f.int("groups"))
        XCTAssertEqual(y.shape, f.shape("output"))
        assertClose(try y.values(), f.values("output"), rtol: rtol, atol: atol, "\(name) output")
        try backward(y, f)
        if inputNeedsGrad {
            assertClose(try x.grad!.values(), f.values("grad_input"), rtol: rtol, atol: atol, "\(name) grad input")
        } else {
            XCTAssertNil(x.grad)
        }
        assertClose(try w.grad!.values(), f.values("grad_weight"), rtol: rtol, atol: atol, "\(name) grad weight")
        XCTAssertTrue(w.grad!.isPlain, "weight gradients come back in PyTorch's layout")
        if let b {
            assertClose(try b.grad!.values(), f.values("grad_bias"), rtol: rtol, atol: atol, "\(name) grad bias")
        }
    }

    func testConvStride2WithBias() throws { try checkConv("conv_s2_bias") }
    func testConvGroups() throws { try checkConv("conv_groups4") }
    func testConvDepthwiseStride2() throws { try checkConv("conv_depthwise_s2") }
    func testConv1x1Stride2() throws { try checkConv("conv_1x1_s2") }
    func testConvStemWithoutInputGradient() throws { try checkConv("conv_stem") }
    func testConvTwoChannelsPerGroup() throws { try checkConv("conv_groups16_2per_group") }
    func testConvDepthwise7x7() throws { try checkConv("conv_depthwise_7x7") }

    /// IResNet's 3x3 stride-1 shape with both algorithms: Winograd (the default, where this CPU has
    /// oneDNN's AVX-512 Winograd kernels) and direct; each against the same PyTorch fixture, and each
    /// primitive made with the algorithm asked for.
    func testConv3x3Stride1WithWinogradAndDirect() throws {
        let saved = ConvolutionAlgorithm.current
        defer { ConvolutionAlgorithm.current = saved }
        let hasWinograd = dnnl_get_effective_cpu_isa().rawValue & dnnl_cpu_isa_avx512_core.rawValue
            == dnnl_cpu_isa_avx512_core.rawValue
        for algorithm in ConvolutionAlgorithm.allCases {
            ConvolutionAlgorithm.current = algorithm
            try checkConv("conv_3x3_s1")
            let made = PrimitiveCache.shared.implementations.filter {
                $0.name.hasPrefix("conv") && $0.name.contains("weight [32, 16, 3, 3]")
                    && $0.name.contains("winograd") == (algorithm == .winograd)
            }
            XCTAssertEqual(made.count, 3, "\(algorithm): forward, backward-data, backward-weights")
            for (name, implementation) in made {
                let expectWinograd = algorithm == .winograd && hasWinograd
                XCTAssertEqual(implementation.contains("wino"), expectWinograd, "\(name) runs on \(implementation)")
            }
        }
    }

    /// Every float32 convolution of the fixtures (IResNet and MobileFaceNet shapes) gets a JIT kernel
    /// (jit:*, brgconv:*), never oneDNN's gemm-based or reference ones (10-100x slower on these shapes), in forward,
    /// backward-data and backward-weights.
    func testConvolutionsUseJITKernels() throws {
        var geometries: [String] = []
        for name in ["conv_s2_bias", "conv_depthwise_s2", "conv_1x1_s2", "conv_stem", "conv_groups16_2per_group",
                     "conv_depthwise_7x7"] {
            try checkConv(name)
            let f = try Fixture(name)
            geometries.append("input \(f.shape("input")) weight \(f.shape("weight")) ")
        }
        let convolutions = PrimitiveCache.shared.implementations.filter { primitive in
            primitive.name.hasPrefix("conv") && primitive.name.contains("float32")
                && geometries.contains { primitive.name.contains($0) }
        }
        XCTAssertEqual(convolutions.count, 17, "6 forward, 5 backward-data (not the stem), 6 backward-weights")
        for (name, implementation) in convolutions {
            XCTAssertTrue(!implementation.hasPrefix("ref") && !implementation.contains("gemm"),
                          "\(name) runs on \(implementation)")
        }
    }

    func checkBatchNorm(_ name: String) throws {
        let f = try Fixture(name)
        let training = (f.params["training"] as? Bool) ?? false
        let frozen = (f.params["freeze_weight"] as? Bool) ?? false
        let x = f.tensor("input", requiresGrad: true)
        let weight = f.tensor("weight", requiresGrad: !frozen)
        let bias = f.tensor("bias", requiresGrad: true)
        let mean = Buffer(name: "running_mean", shape: f.shape("running_mean"), values: f.values("running_mean"))
        let variance = Buffer(name: "running_var", shape: f.shape("running_var"), values: f.values("running_var"))
        let y = try batchNorm(x, weight: weight, bias: bias, runningMean: mean, runningVar: variance,
                              training: training)
        XCTAssertEqual(y.shape, x.shape)
        assertClose(try y.values(), f.values("output"), rtol: rtol, atol: atol, "\(name) output")
        // Running statistics: PyTorch's momentum 0.1 update with the unbiased variance (unchanged in eval).
        assertClose(mean.values, f.values("running_mean_after"), rtol: 1e-5, atol: 1e-6, "\(name) running mean")
        assertClose(variance.values, f.values("running_var_after"), rtol: 1e-5, atol: 1e-6, "\(name) running var")
        try backward(y, f)
        assertClose(try x.grad!.values(), f.values("grad_input"), rtol: rtol, atol: atol, "\(name) grad input")
        if frozen {
            XCTAssertNil(weight.grad, "a frozen weight gets no gradient")
        } else {
            assertClose(try weight.grad!.values(), f.values("grad_weight"), rtol: rtol, atol: atol, "\(name) grad weight")
        }
        assertClose(try bias.grad!.values(), f.values("grad_bias"), rtol: rtol, atol: atol, "\(name) grad bias")
    }

    func testBatchNorm2dTraining() throws { try checkBatchNorm("bn2d_train") }
    func testBatchNorm2dTraining8Channels() throws { try checkBatchNorm("bn2d_train_c8") }
    func testBatchNorm2dEvaluation() throws { try checkBatchNorm("bn2d_eval") }
    func testBatchNorm1dTrainingFrozenWeight() throws { try checkBatchNorm("bn1d_train_frozen") }
    func testBatchNorm1dEvaluation() throws { try checkBatchNorm("bn1d_eval") }

    func testPReLU() throws {
        let f = try Fixture("prelu")
        let x = f.tensor("input", requiresGrad: true)
        let w = f.tensor("weight", requiresGrad: true)
        let y = try prelu(x, weight: w)
        assertClose(try y.values(), f.values("output"), rtol: rtol, atol: atol, "prelu output")
        try backward(y, f)
        assertClose(try x.grad!.values(), f.values("grad_input"), rtol: rtol, atol: atol, "prelu grad input")
        assertClose(try w.grad!.values(), f.values("grad_weight"), rtol: rtol, atol: atol, "prelu grad weight")
    }

    func testLinear() throws {
        let f = try Fixture("linear")
        let x = f.tensor("input", requiresGrad: true)
        let w = f.tensor("weight", requiresGrad: true)
        let b = f.tensor("bias", requiresGrad: true)
        let y = try linear(x, weight: w, bias: b)
        assertClose(try y.values(), f.values("output"), rtol: rtol, atol: atol, "linear output")
        try backward(y, f)
        assertClose(try x.grad!.values(), f.values("grad_input"), rtol: rtol, atol: atol, "linear grad input")
        assertClose(try w.grad!.values(), f.values("grad_weight"), rtol: rtol, atol: atol, "linear grad weight")
        assertClose(try b.grad!.values(), f.values("grad_bias"), rtol: rtol, atol: atol, "linear grad bias")
    }

    /// Every op of an IResNet block chained in the blocked layout: BN -> conv -> BN -> PReLU -> conv s2 -> BN,
    /// plus a 1x1 stride-2 shortcut conv + BN, added; gradients of the input and of all 12 parameters.
    func testIResNetBlockTraining() throws {
        let block = try IResNetBlockFixture()
        let f = block.fixture, p = block.parameters
        let x = f.tensor("input", requiresGrad: true)
        let y = try block.forward(x)
        XCTAssertFalse(y.isPlain, "activations stay in oneDNN's blocked layout: \(y.layoutDescription)")
        assertClose(try y.values(), f.values("output"), rtol: rtol, atol: atol, "block output")
        try backward(y, f)
        // Through six stacked layers the observed errors stay below 1e-5 (magnitudes up to 42): the
        // per-layer tolerances hold for the chain too.
        assertClose(try x.grad!.values(), f.values("grad_input"), rtol: rtol, atol: atol, "block grad input")
        for name in IResNetBlockFixture.parameterNames {
            assertClose(try p[name]!.grad!.values(), f.values("grad_" + name.replacingOccurrences(of: ".", with: "_")),
                        rtol: rtol, atol: atol, "block grad \(name)")
        }
    }
}
