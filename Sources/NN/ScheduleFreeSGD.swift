// Schedule-free SGD (Defazio et al. 2024, "The Road Less Scheduled", the SGD variant), per parameter, with
// gamma_t the step's learning rate, beta the momentum-like interpolation and lambda the weight decay:
//   the gradient is taken at y (the parameter's value during training): g = grad f(y) + lambda * y
//   z <- z - gamma_t * g
//   c_t = gamma_t^2 / (gamma_1^2 + ... + gamma_t^2)        (the paper's weighting with power 2, r = 0; the
//                                                            authors' code weights by the largest LR so far,
//                                                            the same for a warm-up then a constant LR)
//   x <- (1 - c_t) * x + c_t * z
//   y <- (1 - beta) * z + beta * x
// with x = y = z = the initial weights. x is the average the method evaluates and saves; y is where it trains.
// y is recomputed from z and x after every step, so a checkpoint of (z, x) restores y bit for bit.
// The authors' code keeps y and z in place instead; scripts/reference/schedulefree_fixture.py follows their
// form and the tests check that both give the same trajectory.
import Engine
import Foundation

public final class ScheduleFreeSGD {
    public struct ParameterGroup {
        public var parameters: [Parameter]
        public var learningRate: Float
        /// beta: y interpolates between z (beta = 0) and the average x (beta = 1); 0.9 by the paper.
        public var beta: Float
        public var weightDecay: Float

        public init(parameters: [Parameter], learningRate: Float, beta: Float = 0.9, weightDecay: Float = 0) {
            self.parameters = parameters
            self.learningRate = learningRate
            self.beta = beta
            self.weightDecay = weightDecay
        }
    }

    public var groups: [ParameterGroup]
    /// z and x of every parameter, by name.
    public private(set) var z: [String: [Float]] = [:]
    public private(set) var x: [String: [Float]] = [:]
    /// Per group: the sum of the squared learning rates of the steps taken (the denominator of c_t).
    public private(set) var weightSums: [Double]

    public init(groups: [ParameterGroup]) throws {
        var seen = Set<String>()
        for (index, group) in groups.enumerated() {
            guard group.learningRate >= 0, group.weightDecay >= 0, group.beta >= 0, group.beta <= 1 else {
                throw NNError("schedule-free SGD group \(index): learning rate and weight decay must be >= 0, beta in [0, 1]")
            }
            for parameter in group.parameters {
                guard seen.insert(parameter.name).inserted else {
                    throw NNError("schedule-free SGD: parameter \(parameter.name) appears in more than one group")
                }
                z[parameter.name] = parameter.values
                x[parameter.name] = parameter.values
            }
        }
        self.groups = groups
        weightSums = [Double](repeating: 0, count: groups.count)
    }

    public func step() {
        for (index, group) in groups.enumerated() {
            let learningRate = Double(group.learningRate)
            weightSums[index] += learningRate * learningRate
            let averaging = weightSums[index] > 0 ? Float(learningRate * learningRate / weightSums[index]) : 0
            for parameter in group.parameters {
                update(parameter, group, averaging: averaging)
            }
        }
    }

    private func update(_ parameter: Parameter, _ group: ParameterGroup, averaging c: Float) {
        let name = parameter.name
        guard var z = z.removeValue(forKey: name), var x = x.removeValue(forKey: name) else { return }
        defer {
            self.z[name] = z
            self.x[name] = x
        }
        let gamma = group.learningRate, beta = group.beta, weightDecay = group.weightDecay
        parameter.withUnsafeGrad { grad in
            parameter.withUnsafeMutableValues { y in
                z.withUnsafeMutableBufferPointer { z in
                    x.withUnsafeMutableBufferPointer { x in
                        for i in 0..<y.count {
                            z[i] -= gamma * (grad[i] + weightDecay * y[i])
                            x[i] = (1 - c) * x[i] + c * z[i]
                            y[i] = (1 - beta) * z[i] + beta * x[i]
                        }
                    }
                }
            }
        }
    }

    public func zeroGrad() {
        for group in groups { for parameter in group.parameters { parameter.zeroGrad() } }
    }
}

extension ScheduleFreeSGD: Optimizer {
    public var updatedParameters: [Parameter] { groups.flatMap(\.parameters) }

    public func setLearningRate(_ learningRate: Float) {
        for index in groups.indices { groups[index].learningRate = learningRate }
    }

    public func stateKeys(of parameter: Parameter) -> [String] { ["z." + parameter.name, "x." + parameter.name] }

    /// "z.<name>" and "x.<name>" for every parameter; the weight sums in the metadata (exact decimal).
    public func stateTensors() -> SafeTensors {
        var file = SafeTensors()
        for group in groups {
            for parameter in group.parameters {
                file["z." + parameter.name] = SafeTensor(float32: z[parameter.name]!, shape: parameter.shape)
                file["x." + parameter.name] = SafeTensor(float32: x[parameter.name]!, shape: parameter.shape)
            }
        }
        file.metadata["optimizer"] = "schedulefree"
        file.metadata["weight_sums"] = weightSums.map { "\($0)" }.joined(separator: ",")
        return file
    }

    /// Restores z, x and the weight sums, then sets every parameter to y = (1 - beta) z + beta x.
    public func loadState(_ file: SafeTensors, source: String) throws {
        guard file.metadata["optimizer"] == "schedulefree" else {
            throw SafeTensorsError(file: source, tensor: "__metadata__",
                                   problem: "holds no schedule-free SGD state (optimizer = \(file.metadata["optimizer"] ?? "none"))")
        }
        let sums = (file.metadata["weight_sums"] ?? "").split(separator: ",").compactMap { Double($0) }
        guard sums.count == groups.count, sums.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw SafeTensorsError(file: source, tensor: "__metadata__",
                                   problem: "weight_sums must be \(groups.count) non-negative numbers, found '\(file.metadata["weight_sums"] ?? "")'")
        }
        func restored(_ prefix: String) throws -> [String: [Float]] {
            var values: [String: [Float]] = [:]
            for parameter in updatedParameters {
                let key = prefix + parameter.name
                guard let tensor = file[key] else { throw SafeTensorsError(file: source, tensor: key, problem: "is missing") }
                guard tensor.shape == parameter.shape, tensor.dtype != .int64 else {
                    throw SafeTensorsError(file: source, tensor: key,
                                           problem: "has shape \(tensor.shape) and dtype \(tensor.dtype), expected F32 \(parameter.shape)")
                }
                values[parameter.name] = tensor.floats()
            }
            return values
        }
        let restoredZ = try restored("z."), restoredX = try restored("x.")
        z = restoredZ
        x = restoredX
        weightSums = sums
        for group in groups {
            for parameter in group.parameters {
                let z = z[parameter.name]!, x = x[parameter.name]!, beta = group.beta
                parameter.withUnsafeMutableValues { y in
                    for i in 0..<y.count { y[i] = (1 - beta) * z[i] + beta * x[i] }
                }
            }
        }
    }

    public var evaluatesAtOtherWeights: Bool { true }

    /// The parameters at x for `body`, back at y after it.
    public func withEvaluationWeights<T>(_ body: () throws -> T) rethrows -> T {
        let parameters = updatedParameters
        let trainingWeights = parameters.map(\.values)
        for parameter in parameters { parameter.values = x[parameter.name]! }
        defer { for (parameter, values) in zip(parameters, trainingWeights) { parameter.values = values } }
        return try body()
    }
}
