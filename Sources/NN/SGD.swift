// Stochastic gradient descent with torch.optim.SGD's semantics (PyTorch 1.13), per parameter p with grad g:
//   d = g + weightDecay * p
//   momentum != 0:  buf = d on the first step, else buf = momentum * buf + (1 - dampening) * d
//                   d = nesterov ? d + momentum * buf : buf
//   p -= learningRate * d
// Parameters without a gradient (frozen, or unused in the step) are skipped, as PyTorch skips grad None.
import Engine

/// torch.optim.SGD over one or more parameter groups, each with its own hyper-parameters.
public final class SGD {
    /// One parameter group: the parameters and their hyper-parameters (learning rate changes every step
    /// under a scheduler).
    public struct ParameterGroup {
        public var parameters: [Parameter]
        public var learningRate: Float
        public var momentum: Float
        public var dampening: Float
        public var weightDecay: Float
        public var nesterov: Bool

        public init(parameters: [Parameter], learningRate: Float, momentum: Float = 0, dampening: Float = 0,
                    weightDecay: Float = 0, nesterov: Bool = false) {
            self.parameters = parameters
            self.learningRate = learningRate
            self.momentum = momentum
            self.dampening = dampening
            self.weightDecay = weightDecay
            self.nesterov = nesterov
        }
    }

    public var groups: [ParameterGroup]
    /// Momentum buffers by parameter name (PyTorch's `state[p]["momentum_buffer"]`), in the parameter's
    /// PyTorch order; absent until the parameter's first step with momentum. Read and restore for checkpoints.
    public var momentumBuffers: [String: [Float]] = [:]

    public init(groups: [ParameterGroup]) throws {
        var seen = Set<String>()
        for (index, group) in groups.enumerated() {
            guard group.learningRate >= 0, group.momentum >= 0, group.weightDecay >= 0 else {
                throw NNError("SGD group \(index): learning rate, momentum and weight decay must be >= 0")
            }
            guard !group.nesterov || (group.momentum > 0 && group.dampening == 0) else {
                throw NNError("SGD group \(index): Nesterov momentum requires a momentum and zero dampening")
            }
            for parameter in group.parameters {
                guard seen.insert(parameter.name).inserted else {
                    throw NNError("SGD: parameter \(parameter.name) appears in more than one group")
                }
            }
        }
        self.groups = groups
    }

    /// One update of every parameter that has a gradient.
    public func step() {
        for group in groups {
            for parameter in group.parameters {
                update(parameter, group)
            }
        }
    }

    private func update(_ parameter: Parameter, _ group: ParameterGroup) {
        let momentum = group.momentum, dampening = group.dampening, weightDecay = group.weightDecay
        let learningRate = group.learningRate, nesterov = group.nesterov
        var buffer = momentum != 0 ? momentumBuffers.removeValue(forKey: parameter.name) : nil
        let isFirst = buffer == nil
        if momentum != 0 && isFirst { buffer = [Float](repeating: 0, count: parameter.count) }
        let updated: Void? = parameter.withUnsafeGrad { grad in
            parameter.withUnsafeMutableValues { values in
                if momentum == 0 {
                    for i in 0..<values.count {
                        values[i] -= learningRate * (grad[i] + weightDecay * values[i])
                    }
                    return
                }
                buffer!.withUnsafeMutableBufferPointer { buf in
                    // Branches hoisted out of the loops so each loop vectorises.
                    let n = values.count
                    if isFirst {
                        for i in 0..<n { buf[i] = grad[i] + weightDecay * values[i] }
                    } else {
                        let keep = 1 - dampening
                        for i in 0..<n { buf[i] = momentum * buf[i] + keep * (grad[i] + weightDecay * values[i]) }
                    }
                    if nesterov {
                        for i in 0..<n { values[i] -= learningRate * (grad[i] + weightDecay * values[i] + momentum * buf[i]) }
                    } else {
                        for i in 0..<n { values[i] -= learningRate * buf[i] }
                    }
                }
            }
        }
        // A parameter without a gradient keeps its old buffer untouched (or none, if it never had one).
        if momentum != 0, updated != nil || !isFirst { momentumBuffers[parameter.name] = buffer }
    }

    /// The momentum buffers as F32 tensors named "<prefix><parameter name>", shaped like their parameters
    /// (for a resumable checkpoint).
    public func momentumTensors(prefix: String = "momentum.") -> SafeTensors {
        var file = SafeTensors()
        for group in groups {
            for parameter in group.parameters {
                if let buffer = momentumBuffers[parameter.name] {
                    file[prefix + parameter.name] = SafeTensor(float32: buffer, shape: parameter.shape)
                }
            }
        }
        return file
    }

    /// Restores the momentum buffers written by `momentumTensors(prefix:)`: every tensor under `prefix` must
    /// name a parameter of this optimiser with its shape (F32 or BF16); parameters without a tensor start
    /// afresh. Nothing changes when anything is wrong; `source` names the file in errors.
    public func loadMomentum(from file: SafeTensors, prefix: String = "momentum.", source: String = "<memory>") throws {
        var shapes: [String: [Int]] = [:]
        for group in groups { for parameter in group.parameters { shapes[parameter.name] = parameter.shape } }
        var restored: [String: [Float]] = [:]
        for (key, tensor) in file.tensors where key.hasPrefix(prefix) {
            let name = String(key.dropFirst(prefix.count))
            guard let shape = shapes[name] else {
                throw SafeTensorsError(file: source, tensor: key, problem: "is a momentum buffer for \(name), which this optimiser does not update")
            }
            guard tensor.shape == shape else {
                throw SafeTensorsError(file: source, tensor: key, problem: "has shape \(tensor.shape), the parameter has \(shape)")
            }
            guard tensor.dtype != .int64 else {
                throw SafeTensorsError(file: source, tensor: key, problem: "has dtype I64, expected F32 or BF16")
            }
            restored[name] = tensor.floats()
        }
        momentumBuffers = restored
    }

    /// Clears every parameter's gradient in every group.
    public func zeroGrad() {
        for group in groups { for parameter in group.parameters { parameter.zeroGrad() } }
    }
}

/// torch.nn.utils.clip_grad_norm_ with the L2 norm: scales the gradients of `parameters` by
/// maxNorm / (total + 1e-6) when the total norm (over all of them together) exceeds maxNorm.
/// Returns the total norm before clipping. Parameters without gradients are ignored.
@discardableResult
public func clipGradNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var sumOfSquares: Double = 0
    for parameter in parameters {
        parameter.withUnsafeGrad { grad in
            var partial: Float = 0
            for value in grad { partial += value * value }
            sumOfSquares += Double(partial)
        }
    }
    let total = Float(sumOfSquares.squareRoot())
    let coefficient = maxNorm / (total + 1e-6)
    if coefficient < 1 {
        for parameter in parameters {
            parameter.withUnsafeMutableGrad { grad in
                for i in 0..<grad.count { grad[i] *= coefficient }
            }
        }
    }
    return total
}
