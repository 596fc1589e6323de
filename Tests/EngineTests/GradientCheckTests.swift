import XCTest
@testable import Engine

/// Deterministic generator for test inputs (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Finite-difference checks of every op's derivative on tiny shapes.
///
/// loss = sum(f(inputs) * r) for a fixed random r; each input element is moved by +-eps and the central
/// difference (L(x+eps) - L(x-eps)) / 2eps is compared with the analytic gradient. The ops run in float32
/// but the loss is summed in Double, so the rounding error of L is about 1e-7 * |L|, which divided by
/// 2eps = 2e-2 stays below 1e-5 * |L|; the truncation error of the central difference is eps^2/6 * f''' ~
/// 2e-5 for the smooth ops here. Hence eps = 1e-2 with rtol 1e-2, atol 2e-3. Inputs of ops with kinks
/// (PReLU, ReLU, clamp) are kept at least 0.1 away from them so no +-eps step crosses one.
final class GradientCheckTests: XCTestCase {
    var generator = SplitMix64(state: 42)

    func random(_ shape: [Int], scale: Float = 1, awayFromZero: Bool = false, offset: Float = 0) -> [Float] {
        (0..<shape.reduce(1, *)).map { _ in
            var value = Float.random(in: -1...1, using: &generator) * scale
            if awayFromZero { value += value < 0 ? -0.1 : 0.1 }
            return value + offset
        }
    }

    /// Checks d sum(f(x) * r) / dx for every input against central differences.
    func check(_ name: String, _ shapes: [[Int]], _ values: [[Float]]? = nil, eps: Float = 1e-2,
               rtol: Float = 1e-2, atol: Float = 2e-3, _ f: ([Tensor]) throws -> Tensor,
               file: StaticString = #filePath, line: UInt = #line) throws {
        let inputs = values ?? shapes.map { random($0) }
        let leaves = zip(shapes, inputs).map { Tensor(shape: $0, values: $1, requiresGrad: true) }
        let output = try f(leaves)
        let weights = random(output.shape)
        try output.backward(gradient: Tensor(shape: output.shape, values: weights))

        func loss(_ perturbed: [[Float]]) throws -> Double {
            let y = try f(zip(shapes, perturbed).map { Tensor(shape: $0, values: $1) }).values()
            return zip(y, weights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        for index in 0..<leaves.count {
            let analytic = try leaves[index].grad.map { try $0.values() } ?? [Float](repeating: 0, count: inputs[index].count)
            // At most ~64 elements per input (evenly spaced) keep large weights affordable.
            let elements = Array(stride(from: 0, to: inputs[index].count, by: max(1, inputs[index].count / 64)))
            var numeric = [Float]()
            for element in elements {
                var plus = inputs, minus = inputs
                plus[index][element] += eps
                minus[index][element] -= eps
                numeric.append(Float((try loss(plus) - loss(minus)) / Double(2 * eps)))
            }
            assertClose(elements.map { analytic[$0] }, numeric, rtol: rtol, atol: atol, "\(name) input \(index)", file: file, line: line)
        }
    }

    func testConv2dStrideGroupsBias() throws {
        try check("conv2d", [[2, 4, 5, 5], [4, 2, 3, 3], [4]]) {
            try conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1, groups: 2)
        }
    }

    func testConv2dBlockedChannels() throws {
        try check("conv2d 16ch", [[1, 16, 3, 3], [16, 16, 3, 3]]) { try conv2d($0[0], weight: $0[1], padding: 1) }
    }

    func testBatchNormTraining() throws {
        let mean = Buffer(name: "m", shape: [3], values: [0, 0, 0]), variance = Buffer(name: "v", shape: [3], values: [1, 1, 1])
        try check("batchNorm train", [[3, 3, 2, 2], [3], [3]]) {
            try batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: mean, runningVar: variance, training: true)
        }
    }

    func testBatchNorm1dEvaluation() throws {
        let mean = Buffer(name: "m", shape: [4], values: [0.1, -0.2, 0.3, 0]),
            variance = Buffer(name: "v", shape: [4], values: [1, 0.5, 2, 1.5])
        try check("batchNorm eval", [[3, 4], [4], [4]]) {
            try batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: mean, runningVar: variance, training: false)
        }
    }

    func testPReLU() throws {
        let shapes = [[2, 3, 2, 2], [3]]
        try check("prelu", shapes, [random(shapes[0], awayFromZero: true), [0.25, -0.5, 0.1]]) {
            try prelu($0[0], weight: $0[1])
        }
    }

    func testLinearAndMatmul() throws {
        try check("linear", [[3, 4], [5, 4], [5]]) { try linear($0[0], weight: $0[1], bias: $0[2]) }
        try check("matmul", [[3, 4], [4, 2]]) { try matmul($0[0], $0[1]) }
        try check("matmul^T", [[3, 4], [2, 4]]) { try matmul($0[0], $0[1], transposeB: true) }
    }

    func testBinaryWithBroadcast() throws {
        let shapes = [[2, 3, 2], [1, 3, 1]]
        let values = [random(shapes[0]), random(shapes[1], scale: 0.5, offset: 1.5)]   // divisor away from 0
        try check("add", shapes, values) { try $0[0] + $0[1] }
        try check("subtract", shapes, values) { try $0[0] - $0[1] }
        try check("multiply", shapes, values) { try $0[0] * $0[1] }
        try check("divide", shapes, values) { try $0[0] / $0[1] }
    }

    func testEltwise() throws {
        let shape = [[2, 3]]
        let positive = [random(shape[0], scale: 0.5, offset: 1.5)]
        try check("scaled", shape) { try $0[0].scaled(by: -1.5, plus: 2) }
        try check("exp", shape) { try $0[0].exp() }
        try check("log", shape, positive) { try $0[0].log() }
        try check("sqrt", shape, positive) { try $0[0].sqrt() }
        try check("square", shape) { try $0[0].square() }
        try check("relu", shape, [random(shape[0], awayFromZero: true)]) { try $0[0].relu() }
    }

    func testShapesAndReductions() throws {
        try check("reshape", [[2, 3, 2]]) { try $0[0].reshaped([3, -1]) }
        try check("sum", [[2, 3]]) { try $0[0].sum() }
        try check("mean", [[2, 3]]) { try $0[0].mean() }
        try check("sum axis 0", [[2, 3]]) { try $0[0].sum(axis: 0) }
        try check("sum axis 1", [[2, 3]]) { try $0[0].sum(axis: 1) }
    }

    func testHeadOps() throws {
        try check("normalizedRows", [[3, 4]]) { try $0[0].normalizedRows() }
        // Values at least 0.05 from the bounds +-0.3, inside and outside.
        let clampInputs: [Float] = [-0.8, -0.5, -0.2, -0.1, 0, 0.1, 0.2, 0.25, 0.4, 0.9, -0.35, 0.05]
        try check("clamp", [[3, 4]], [clampInputs]) { try $0[0].clamped(min: -0.3, max: 0.3) }
        try check("acos", [[2, 3]], [random([2, 3], scale: 0.8)]) { try $0[0].acos() }
        try check("cos", [[2, 3]]) { try $0[0].cos() }
        try check("logSoftmax", [[3, 5]]) { try $0[0].logSoftmax() }
        try check("gather", [[3, 4]]) { try $0[0].gather(columns: [1, -1, 3]) }
        try check("scatter", [[3, 4], [3]]) { try $0[0].scatter(columns: [0, 2, -1], values: $0[1]) }
        try check("gatherRows", [[4, 3]]) { try $0[0].gatherRows([3, 0, 3]) }
        try check("scatterRows", [[4, 3], [2, 3]]) { try $0[0].scatterRows([2, 0], $0[1]) }
        try check("crossEntropy", [[3, 5]]) { try crossEntropy($0[0], labels: [4, 0, 2]) }
    }
}
