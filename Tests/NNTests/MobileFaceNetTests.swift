import Foundation
import XCTest
import Engine
@testable import NN

/// Full-size MobileFaceNet against PyTorch without storing its 2M weights: both sides fill the state from
/// the closed formula of scripts/reference/nn_fixtures.py's formula_state (an exact integer hash, repeated in
/// `fillFromFormula`), run a training-mode forward on four formula images, back-propagate sum(embedding * cos(0.5 j)), then an
/// evaluation-mode forward. Fixture: Fixtures/mobilefacenet_formula.safetensors (torch 1.13, float64
/// reference with torch's own float32 error per tensor, f32error.<key>).
/// Tolerance: |ours - ref| <= 5 * f32error + 1e-4 * |ref| + 1e-6: one forward and backward pass, like the
/// IResNet step-1 comparison (there within 3.4x torch's float32 error).
final class MobileFaceNetTests: XCTestCase {
    /// nn_fixtures.py's formula_state: entry k (state order) = base + amplitude * formulaUniform(count, k).
    static func fillFromFormula(_ model: Module) {
        var kinds: [String: (base: Double, amplitude: Double)] = [:]
        var stack: [Module] = [model]
        while let module = stack.popLast() {
            stack += module.childModules
            if let prelu = module as? PReLU { kinds[prelu.weight.name] = (0.25, 0.1) }
            if let conv = module as? Conv2d {
                let shape = conv.weight.shape
                kinds[conv.weight.name] = (0, (6.0 / Double(shape[0] * shape[2] * shape[3])).squareRoot())
                if let bias = conv.bias { kinds[bias.name] = (0, 0.1) }
            }
            if let linear = module as? Linear {
                kinds[linear.weight.name] = (0, (3.0 / Double(linear.weight.shape[1])).squareRoot())
                if let bias = linear.bias { kinds[bias.name] = (0, 0.1) }
            }
            if let bn = module as? BatchNorm {
                kinds[bn.weight.name] = (1, 0.2)
                kinds[bn.bias.name] = (0, 0.1)
                kinds[bn.runningMean.name] = (0, 0.1)
                kinds[bn.runningVar.name] = (1, 0.5)
            }
        }
        for (k, entry) in model.state.enumerated() {
            guard let kind = kinds[entry.name] else { continue }   // num_batches_tracked
            let values = Formula.uniform(entry.shape.reduce(1, *), stream: k).map { Float(kind.base + kind.amplitude * $0) }
            switch entry {
            case .parameter(let parameter): parameter.values = values
            case .buffer(let buffer): buffer.values = values
            case .counter: break
            }
        }
    }

    func assertMatches(_ actual: [Float], _ fixture: SafeTensors, _ key: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let torchError = try fixture.values("f32error." + key, file: file, line: line)[0]
        assertClose(actual, try fixture.values(key, file: file, line: line), rtol: 1e-4, atol: 5 * torchError + 1e-6,
                    key, file: file, line: line)
    }

    func testForwardBackwardAndEvaluationMatchPyTorch() throws {
        let fixture = try Fixtures.safetensors("mobilefacenet_formula.safetensors")
        let model = try MobileFaceNet(initialization: .zeros)
        Self.fillFromFormula(model)
        let images = Formula.images(batch: 4, size: 112)
        model.train()
        let embedding = try model(images)
        try assertMatches(embedding.values(), fixture, "embedding.train")
        let seed = (0..<embedding.count).map { Float(cos(0.5 * Double($0))) }
        try embedding.backward(gradient: Tensor(shape: embedding.shape, values: seed))
        let parameters = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0) })
        for key in fixture.tensors.keys.sorted() where key.hasPrefix("grad.") {
            let parameter = try XCTUnwrap(parameters[String(key.dropFirst(5))], key)
            try assertMatches(XCTUnwrap(parameter.grad, key).values(), fixture, key)
        }
        var buffers: [String: [Float]] = [:]
        for case .buffer(let buffer) in model.state { buffers[buffer.name] = buffer.values }
        for key in fixture.tensors.keys.sorted() where key.hasPrefix("after.") {
            try assertMatches(XCTUnwrap(buffers[String(key.dropFirst(6))], key), fixture, key)
        }
        model.eval()
        model.requireGradients(false)
        let evaluation = try model(images)
        XCTAssertFalse(evaluation.requiresGrad, "no graph without gradients")
        try assertMatches(evaluation.values(), fixture, "embedding.eval")
    }
}
