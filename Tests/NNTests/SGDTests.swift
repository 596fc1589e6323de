import Foundation
import XCTest
import Engine
@testable import NN

/// torch.optim.SGD and clip_grad_norm_ against Fixtures/sgd_steps.safetensors, written by
/// scripts/reference/nn_fixtures.py (torch 1.13). Both compute the same float32 formulas element by
/// element, so they agree to a few ulps: rtol 1e-6, atol 1e-7 (values are O(1)).
final class SGDTests: XCTestCase {
    func setGradient(_ parameter: Parameter, _ values: [Float]) throws {
        // Back-propagating an explicit gradient into a leaf accumulates it into its grad.
        parameter.zeroGrad()
        try parameter.tensor.backward(gradient: Tensor(shape: parameter.shape, values: values))
    }

    func testMatchesTorchOptimSGDOverThreeSteps() throws {
        let fixture = try Fixtures.safetensors("sgd_steps.safetensors")
        let names = ["a", "b", "c", "d"]
        var parameters: [String: Parameter] = [:]
        for name in names {
            let initial = try XCTUnwrap(fixture["init.\(name)"])
            parameters[name] = Parameter(name: name, shape: initial.shape, values: initial.floats())
        }
        // The groups of nn_fixtures.py's SGD_GROUPS.
        let sgd = try SGD(groups: [
            .init(parameters: [parameters["a"]!], learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4),
            .init(parameters: [parameters["b"]!], learningRate: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0.01),
            .init(parameters: [parameters["c"]!], learningRate: 0.2, momentum: 0.9, weightDecay: 1e-3, nesterov: true),
            .init(parameters: [parameters["d"]!], learningRate: 0.3, weightDecay: 0.02),
        ])
        for step in 1...3 {
            sgd.zeroGrad()
            for name in names {
                guard let gradient = fixture["grad.\(step).\(name)"] else { continue }   // b has none in step 2
                try setGradient(parameters[name]!, gradient.floats())
            }
            sgd.step()
            for name in names {
                assertClose(parameters[name]!.values, try fixture.values("after.\(step).\(name)"),
                            rtol: 1e-6, atol: 1e-7, "step \(step) parameter \(name)")
            }
        }
        for name in ["a", "b", "c"] {
            assertClose(try XCTUnwrap(sgd.momentumBuffers[name]), try fixture.values("momentum.\(name)"),
                        rtol: 1e-6, atol: 1e-7, "momentum buffer \(name)")
        }
        XCTAssertNil(sgd.momentumBuffers["d"], "no momentum, no buffer (as PyTorch)")

        // Resuming: a fresh optimiser restores the saved buffers exactly (F32 round trip).
        let saved = sgd.momentumTensors()
        XCTAssertEqual(Set(saved.tensors.keys), ["momentum.a", "momentum.b", "momentum.c"])
        let resumed = try SGD(groups: sgd.groups)
        try resumed.loadMomentum(from: SafeTensors.decode(saved.encoded()))
        XCTAssertEqual(resumed.momentumBuffers, sgd.momentumBuffers)
        var wrong = saved
        wrong["momentum.zzz"] = SafeTensor(float32: [1], shape: [1])
        XCTAssertThrowsError(try resumed.loadMomentum(from: wrong, source: "opt.safetensors")) {
            XCTAssertTrue("\($0)".contains("opt.safetensors: tensor 'momentum.zzz'"), "\($0)")
        }
        wrong = saved
        wrong["momentum.a"] = SafeTensor(float32: [1], shape: [1])
        XCTAssertThrowsError(try resumed.loadMomentum(from: wrong)) { XCTAssertTrue("\($0)".contains("shape [1]"), "\($0)") }
        XCTAssertEqual(resumed.momentumBuffers, sgd.momentumBuffers, "a refused file changes nothing")
    }

    func testClipGradNormMatchesTorch() throws {
        let fixture = try Fixtures.safetensors("sgd_steps.safetensors")
        let a = Parameter(name: "a", shape: [5], values: [Float](repeating: 0, count: 5))
        let b = Parameter(name: "b", shape: [3], values: [Float](repeating: 0, count: 3))
        try setGradient(a, fixture.values("clip.a.grad"))
        try setGradient(b, fixture.values("clip.b.grad"))
        let total = clipGradNorm([a, b], maxNorm: 1)
        assertClose([total], try fixture.values("clip.total_norm"), rtol: 1e-6, atol: 0, "total norm")
        assertClose(try XCTUnwrap(a.grad).values(), try fixture.values("clip.a.clipped"), rtol: 1e-6, atol: 1e-7, "clipped a")
        assertClose(try XCTUnwrap(b.grad).values(), try fixture.values("clip.b.clipped"), rtol: 1e-6, atol: 1e-7, "clipped b")

        try setGradient(a, fixture.values("clip.a.grad"))
        try setGradient(b, fixture.values("clip.b.grad"))
        clipGradNorm([a, b], maxNorm: 100)
        XCTAssertEqual(try XCTUnwrap(a.grad).values(), try fixture.values("clip.a.unclipped"))
        XCTAssertEqual(try XCTUnwrap(b.grad).values(), try fixture.values("clip.b.unclipped"))
    }

    func testRefusesBadGroups() {
        let p = Parameter(name: "p", shape: [1], values: [0])
        XCTAssertThrowsError(try SGD(groups: [.init(parameters: [p], learningRate: 0.1), .init(parameters: [p], learningRate: 0.2)]))
        XCTAssertThrowsError(try SGD(groups: [.init(parameters: [p], learningRate: 0.1, nesterov: true)]))
        XCTAssertThrowsError(try SGD(groups: [.init(parameters: [p], learningRate: -1)]))
    }
}
