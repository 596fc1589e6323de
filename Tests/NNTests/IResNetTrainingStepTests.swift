import Foundation
import XCTest
import Engine
@testable import NN

/// Two SGD training steps of a reduced-width IResNet against PyTorch: Fixtures/iresnet_train_step.safetensors,
/// written by scripts/reference/nn_fixtures.py (torch 1.13, float64 reference stored as F32): IResNet-18
/// layout with stages of 8/8/16/16 channels, 32x32 input, batch 4, embedding 16, normalised linear head
/// (5 classes, s = 64) and cross entropy; SGD momentum 0.9, weight decay 5e-4, backbone LR 0.01, head LR 0.02.
///
/// Tolerances. The reference is float64. The fixture also holds, per tensor, torch's own float32 error
/// (f32error.<key>: max |torch float32 - float64|), and each tensor of ours must be within a few times that:
/// |ours - ref| <= factor * f32error + 1e-4 * |ref| + 1e-7, elementwise. Measured (2026-11-29): loss and
/// step-1 gradients within 3.4x torch's float32 error (mean 1.3x): factor 5. After two steps our error is up
/// to 14x torch's (mean 3-5x): step-1 rounding differences (oneDNN sums in other orders than torch) are
/// amplified through the second step; run from one common after-step-1 state, the step-2 gradients agree
/// within 3.6x again (a one-off check against a torch float64 run), so the gap is propagation, not a wrong
/// formula: factor 25. A wrong formula in the network (a biased running variance, a missed shortcut, a
/// trained frozen weight) is off by orders of magnitude more; SGDTests checks the optimiser's terms alone.
final class IResNetTrainingStepTests: XCTestCase {
    /// |ours - ref| <= factor * (torch's float32 error on this tensor) + 1e-4 * |ref| + 1e-7, elementwise;
    /// factor 5 for the loss and step-1 gradients, 25 after two steps (see above).
    func assertMatches(_ actual: [Float], _ fixture: SafeTensors, _ key: String,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try fixture.values(key, file: file, line: line)
        let torchError = try fixture.values("f32error." + key, file: file, line: line)[0]
        let factor: Float = key.hasPrefix("loss.") || key.hasPrefix("grad.") ? 5 : 25
        assertClose(actual, expected, rtol: 1e-4, atol: factor * torchError + 1e-7, key, file: file, line: line)
    }

    func testTwoStepsMatchPyTorch() throws {
        let fixture = try Fixtures.safetensors("iresnet_train_step.safetensors")
        let model = try IResNet(depth: 18, widths: [8, 8, 16, 16], imageHeight: 32, imageWidth: 32,
                                embeddingSize: 16, initialization: .zeros)
        let head = NormalisedLinear(name: "head", features: 16, classes: 5, initialization: .zeros)
        var initial = SafeTensors()
        for entry in model.state { initial[entry.name] = fixture["init." + entry.name] }
        try model.loadState(from: initial, source: "iresnet_train_step.safetensors")
        head.weight.values = try fixture.values("init.head.weight")
        model.train()
        let sgd = try SGD(groups: [
            .init(parameters: model.trainableParameters, learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4),
            .init(parameters: [head.weight], learningRate: 0.02, momentum: 0.9, weightDecay: 5e-4),
        ])

        for step in 1...2 {
            sgd.zeroGrad()
            let images = try XCTUnwrap(fixture["input.\(step)"])
            let labels = try XCTUnwrap(fixture["labels.\(step)"]).int64s().map { Int($0) }
            let loss = try head.loss(model(Tensor(shape: images.shape, values: images.floats())), labels: labels, scale: 64)
            try assertMatches([loss.item()], fixture, "loss.\(step)")
            try loss.backward()
            if step == 1 {
                for parameter in model.trainableParameters + [head.weight] {
                    let gradient = try XCTUnwrap(parameter.grad, "\(parameter.name) has no gradient").values()
                    try assertMatches(gradient, fixture, "grad.\(parameter.name)")
                }
                XCTAssertNil(model.features.weight.grad, "the frozen BN1d weight gets no gradient")
            }
            sgd.step()
        }

        for entry in model.state {
            switch entry {
            case .parameter(let parameter): try assertMatches(parameter.values, fixture, "after2.\(parameter.name)")
            case .buffer(let buffer): try assertMatches(buffer.values, fixture, "after2.\(buffer.name)")
            case .counter(let counter):
                XCTAssertEqual([counter.value], fixture["after2.\(counter.name)"]?.int64s(), counter.name)
            }
        }
        try assertMatches(head.weight.values, fixture, "after2.head.weight")
        for parameter in model.trainableParameters + [head.weight] {
            try assertMatches(try XCTUnwrap(sgd.momentumBuffers[parameter.name]), fixture, "momentum2.\(parameter.name)")
        }
        XCTAssertEqual(model.features.weight.values, [Float](repeating: 1, count: 16), "frozen weight unchanged")
    }
}
