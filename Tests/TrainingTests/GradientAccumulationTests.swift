import Engine
import Foundation
import NN
import TensorFixtures
import XCTest
@testable import Training

/// The trainer's update with gradient_acc = 2, against the same update computed here by hand: arcface_torch
/// (train_v2.py) runs `loss.backward()` every step without scaling the loss and, every gradient_acc-th step,
/// clips the backbone's gradient norm at 5, steps SGD and zeros the gradients. So the weights must not move
/// on odd steps, and on even steps must equal one clipped SGD step on the sum of the two micro-batch gradients.
final class GradientAccumulationTests: XCTestCase {
    private let learningRate: Float = 0.1, momentum: Float = 0.9, weightDecay: Float = 5e-4
    private let labels = [[0, 3, 1], [4, 2, 0], [1, 1, 3], [2, 4, 4]]

    /// A one-layer "backbone" (6 -> 4, with bias) and a normalised-linear head over 5 classes; every call
    /// builds the same values (fixed seeds) in new parameters.
    private func makeModel() -> (backbone: Linear, head: NormalisedLinear) {
        var initializer = Initializer(.random(seed: 11))
        let backbone = Linear(name: "fc", inFeatures: 6, outFeatures: 4, initializer: &initializer)
        return (backbone, NormalisedLinear(name: "head", features: 4, classes: 5, initialization: .random(seed: 12)))
    }

    /// Micro-batch `index`: 3 rows of 6 features of order 10, so that the backbone's gradient norm exceeds 5
    /// and clipping acts (checked below).
    private func inputs(_ index: Int) -> Tensor {
        Tensor(shape: [3, 6], values: (0..<18).map { Float(10 * sin(Double(7 * index + $0) * 1.3)) })
    }

    private func loss(_ model: (backbone: Linear, head: NormalisedLinear), batch: Int) throws -> Tensor {
        try model.head.loss(model.backbone(inputs(batch)), labels: labels[batch], scale: 64)
    }

    private func optimizer(_ model: (backbone: Linear, head: NormalisedLinear)) throws -> SGD {
        try SGD(groups: [
            .init(parameters: model.backbone.trainableParameters, learningRate: learningRate, momentum: momentum,
                  weightDecay: weightDecay),
            .init(parameters: [model.head.weight], learningRate: learningRate, momentum: momentum, weightDecay: weightDecay),
        ])
    }

    /// The expectation, on a second copy of the model: the gradients of `batches` taken one at a time and
    /// summed, the backbone's part clipped to norm 5 (torch's clip_grad_norm_: x 5 / (norm + 1e-6) when the
    /// norm exceeds 5), then torch.optim.SGD with momentum and weight decay (d = g + wd p; buf = d on the first
    /// step, 0.9 buf + d after; p -= lr buf). Updates `reference` and `buffers`; returns the clip coefficient.
    private func referenceUpdate(_ reference: (backbone: Linear, head: NormalisedLinear), batches: [Int],
                                 buffers: inout [[Float]]?) throws -> Double {
        let parameters = reference.backbone.trainableParameters + [reference.head.weight]
        let backboneCount = reference.backbone.trainableParameters.count
        var summed = parameters.map { [Float](repeating: 0, count: $0.count) }
        for batch in batches {
            for parameter in parameters { parameter.zeroGrad() }
            try loss(reference, batch: batch).backward()
            for (index, parameter) in parameters.enumerated() {
                summed[index] = zip(summed[index], try XCTUnwrap(parameter.grad).values()).map { $0 + $1 }
            }
        }
        let norm = summed.prefix(backboneCount).joined().reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let coefficient = min(1, 5 / (norm + 1e-6))
        for index in 0..<backboneCount { summed[index] = summed[index].map { Float(Double($0) * coefficient) } }
        let directions = zip(summed, parameters).map { gradient, parameter in
            zip(gradient, parameter.values).map { $0 + weightDecay * $1 }
        }
        buffers = buffers.map { old in zip(old, directions).map { zip($0, $1).map { momentum * $0 + $1 } } } ?? directions
        for (parameter, buffer) in zip(parameters, buffers!) {
            parameter.values = zip(parameter.values, buffer).map { $0 - learningRate * $1 }
        }
        return coefficient
    }

    func testTwoMicroBatchesMakeOneClippedSGDStepOnTheSummedGradients() throws {
        let model = makeModel()
        let update = GradientAccumulation(backboneParameters: model.backbone.trainableParameters,
                                          optimizer: try optimizer(model), stepsPerUpdate: 2)
        let parameters = model.backbone.trainableParameters + [model.head.weight]
        let reference = makeModel()
        var buffers: [[Float]]?
        var smallestCoefficient = 1.0

        for cycle in 0..<2 {
            smallestCoefficient = min(smallestCoefficient,
                                      try referenceUpdate(reference, batches: [2 * cycle, 2 * cycle + 1], buffers: &buffers))
            // The trainer's path: global steps 2 cycle + 1 (odd: gradients add up, nothing moves) and 2 cycle + 2.
            let before = parameters.map(\.values)
            XCTAssertFalse(try update.backward(loss(model, batch: 2 * cycle), step: 2 * cycle + 1))
            XCTAssertEqual(parameters.map(\.values), before, "cycle \(cycle): an odd step must not change the weights")
            XCTAssertTrue(parameters.allSatisfy { $0.grad != nil }, "the odd step's gradients are kept")
            XCTAssertTrue(try update.backward(loss(model, batch: 2 * cycle + 1), step: 2 * cycle + 2))
            assertMatches(model, reference, "cycle \(cycle)")
            for parameter in parameters {
                XCTAssertEqual(try parameter.grad?.values().allSatisfy { $0 == 0 } ?? true, true,
                               "\(parameter.name): gradients are zeroed after the update")
            }
        }
        // Clipping must act strongly, or a wrong clip (of the head too, or none) could pass unnoticed.
        XCTAssertLessThan(smallestCoefficient, 0.5)
    }

    /// With gradient_acc = 1 every step is one clipped SGD step on its own gradient.
    func testWithoutAccumulationEveryStepUpdates() throws {
        let model = makeModel()
        let update = GradientAccumulation(backboneParameters: model.backbone.trainableParameters,
                                          optimizer: try optimizer(model), stepsPerUpdate: 1)
        let reference = makeModel()
        var buffers: [[Float]]?
        for step in 1...3 {
            _ = try referenceUpdate(reference, batches: [step - 1], buffers: &buffers)
            XCTAssertTrue(try update.backward(loss(model, batch: step - 1), step: step))
            assertMatches(model, reference, "step \(step)")
        }
    }

    /// The same float32 formulas in another summation order (the norm, in float64 here): a few ulps of O(1)
    /// values, so rtol 1e-5 and atol 1e-6.
    private func assertMatches(_ model: (backbone: Linear, head: NormalisedLinear),
                               _ reference: (backbone: Linear, head: NormalisedLinear), _ what: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        let expected = reference.backbone.trainableParameters + [reference.head.weight]
        for (parameter, target) in zip(model.backbone.trainableParameters + [model.head.weight], expected) {
            assertClose(parameter.values, target.values, rtol: 1e-5, atol: 1e-6, "\(what) \(parameter.name)",
                        file: file, line: line)
        }
    }
}

/// Periodic checkpoints fall on weight updates, so a resumed run never lacks accumulated gradients.
final class CheckpointScheduleTests: XCTestCase {
    func checkpointSteps(every: Int, gradientAcc: Int, through last: Int) -> [Int] {
        (1...last).filter { Trainer.writesCheckpoint(after: $0, every: every, gradientAcc: gradientAcc) }
    }

    func testCheckpointsLandOnWeightUpdates() {
        XCTAssertEqual(checkpointSteps(every: 5, gradientAcc: 1, through: 20), [5, 10, 15, 20])
        XCTAssertEqual(checkpointSteps(every: 4, gradientAcc: 2, through: 12), [4, 8, 12])
        // due at 5, 10, 15: written at the next update (multiples of 2)
        XCTAssertEqual(checkpointSteps(every: 5, gradientAcc: 2, through: 16), [6, 10, 16])
        // due at every step: written at every update
        XCTAssertEqual(checkpointSteps(every: 1, gradientAcc: 3, through: 9), [3, 6, 9])
        XCTAssertEqual(checkpointSteps(every: 0, gradientAcc: 1, through: 9), [])
    }
}
