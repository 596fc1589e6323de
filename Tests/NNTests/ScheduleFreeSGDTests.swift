import Foundation
import XCTest
import Engine
@testable import NN

/// Schedule-free SGD against Fixtures/schedulefree_sgd.json, written by scripts/reference/schedulefree_fixture.py
/// (torch 1.13, the authors' in-place y/z form; ours keeps z and x). Float32 both, a different order of
/// operations: rtol 1e-5, atol 1e-6 over seven steps (values O(1)).
final class ScheduleFreeSGDTests: XCTestCase {
    struct Fixture: Decodable {
        struct Group: Decodable {
            var beta: Float
            var weight_decay: Float
            var params: [String: Int]
        }
        struct Step: Decodable {
            var lr: Double
            var grads: [String: [Float]]
            var y: [String: [Float]]
            var z: [String: [Float]]
            var x: [String: [Float]]
        }
        var groups: [Group]
        var initial: [String: [Float]]
        var steps: [Step]
    }

    func loadFixture() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/schedulefree_sgd.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func makeOptimizer(_ fixture: Fixture) throws -> (ScheduleFreeSGD, [String: Parameter]) {
        var parameters: [String: Parameter] = [:]
        var groups: [ScheduleFreeSGD.ParameterGroup] = []
        for group in fixture.groups {
            let members = group.params.keys.sorted().map { name in
                let parameter = Parameter(name: name, shape: [group.params[name]!], values: fixture.initial[name]!)
                parameters[name] = parameter
                return parameter
            }
            groups.append(.init(parameters: members, learningRate: 0, beta: group.beta, weightDecay: group.weight_decay))
        }
        return (try ScheduleFreeSGD(groups: groups), parameters)
    }

    func feed(_ step: Fixture.Step, to optimizer: ScheduleFreeSGD, _ parameters: [String: Parameter]) throws {
        optimizer.zeroGrad()
        for (name, gradient) in step.grads {
            try parameters[name]!.tensor.backward(gradient: Tensor(shape: [gradient.count], values: gradient))
        }
        optimizer.setLearningRate(Float(step.lr))
        optimizer.step()
    }

    func testMatchesTheAuthorsUpdateStepByStep() throws {
        let fixture = try loadFixture()
        let (optimizer, parameters) = try makeOptimizer(fixture)
        XCTAssertEqual(fixture.steps.count, 7)
        XCTAssertNil(fixture.steps[2].grads["b"], "the fixture must leave one parameter without a gradient")
        for (index, step) in fixture.steps.enumerated() {
            try feed(step, to: optimizer, parameters)
            for name in parameters.keys.sorted() {
                assertClose(parameters[name]!.values, step.y[name]!, rtol: 1e-5, atol: 1e-6, "step \(index + 1) y of \(name)")
                assertClose(optimizer.z[name]!, step.z[name]!, rtol: 1e-5, atol: 1e-6, "step \(index + 1) z of \(name)")
                assertClose(optimizer.x[name]!, step.x[name]!, rtol: 1e-5, atol: 1e-5, "step \(index + 1) x of \(name)")
            }
        }
        // Evaluation sees x, and training resumes at y afterwards.
        let trainingWeights = parameters["a"]!.values
        optimizer.withEvaluationWeights {
            assertClose(parameters["a"]!.values, fixture.steps.last!.x["a"]!, rtol: 1e-5, atol: 1e-5, "evaluation weights")
        }
        XCTAssertEqual(parameters["a"]!.values, trainingWeights)
    }

    /// A checkpoint after step 4 restored into fresh parameters continues bit for bit.
    func testResumesExactlyFromItsState() throws {
        let fixture = try loadFixture()
        let (whole, wholeParameters) = try makeOptimizer(fixture)
        for step in fixture.steps { try feed(step, to: whole, wholeParameters) }

        let (first, firstParameters) = try makeOptimizer(fixture)
        for step in fixture.steps[..<4] { try feed(step, to: first, firstParameters) }
        let saved = try SafeTensors.decode(first.stateTensors().encoded())
        let (resumed, resumedParameters) = try makeOptimizer(fixture)   // parameters at the initial weights
        try resumed.loadState(saved, source: "optimizer.safetensors")
        for name in firstParameters.keys { XCTAssertEqual(resumedParameters[name]!.values, firstParameters[name]!.values, name) }
        for step in fixture.steps[4...] { try feed(step, to: resumed, resumedParameters) }
        for name in wholeParameters.keys {
            XCTAssertEqual(resumedParameters[name]!.values, wholeParameters[name]!.values, name)
            XCTAssertEqual(resumed.x[name], whole.x[name], name)
        }

        var damaged = saved
        damaged.tensors["x.c"] = nil
        XCTAssertThrowsError(try resumed.loadState(damaged, source: "optimizer.safetensors")) {
            XCTAssertTrue("\($0)".contains("optimizer.safetensors: tensor 'x.c'"), "\($0)")
        }
        XCTAssertThrowsError(try resumed.loadState(SafeTensors(), source: "sgd.safetensors")) {
            XCTAssertTrue("\($0)".contains("no schedule-free SGD state"), "\($0)")
        }
    }
}

/// Batch-norm statistics re-measured at new weights: PyTorch's momentum = None (each batch weighted equally).
final class BatchNormStatisticsTests: XCTestCase {
    func testRecomputeAveragesEveryBatchEquallyAndRestoresTheLayer() throws {
        let layer = BatchNorm(name: "bn", channels: 2, initializer: Initializer(.random(seed: 1)))
        layer.runningMean.values = [5, 5]
        layer.numBatchesTracked.value = 42
        layer.eval()
        // Three batches of [N=2, C=2]: channel 0 holds (k, 3k), channel 1 holds (-k, k) for batch k.
        let batches = (1...3).map { k -> Tensor in
            let k = Float(k)
            return Tensor(shape: [2, 2], values: [k, -k, 3 * k, k])
        }
        var served = 0
        try recomputeBatchNormStatistics(of: layer, batchCount: 3) {
            defer { served += 1 }
            return batches[served]
        }
        XCTAssertEqual(served, 3)
        // By the definition: batch k's channel means are 2k and 0, its unbiased variances 2k^2 and 2k^2.
        let meanOfMeans: [Float] = [(2 + 4 + 6) / 3, 0]
        let meanOfVariances = Float(2 * (1 + 4 + 9)) / 3
        assertClose(layer.runningMean.values, meanOfMeans, rtol: 1e-6, atol: 1e-6, "running mean")
        assertClose(layer.runningVar.values, [meanOfVariances, meanOfVariances], rtol: 1e-6, atol: 1e-6, "running var")
        XCTAssertEqual(layer.momentum, 0.1)
        XCTAssertEqual(layer.numBatchesTracked.value, 42)
        XCTAssertFalse(layer.isTraining)
    }
}
