// Named state of a model: trainable parameters and buffers (running statistics), both kept in PyTorch's
// contiguous layout so optimisers and checkpoints see exactly PyTorch's tensors.

/// A trainable tensor with the dotted name of its PyTorch state_dict key (`layer1.0.conv1.weight`).
/// The only tensor users update in place (optimisers). A frozen parameter (`isTrainable == false`,
/// like IResNet's BatchNorm1d weight) is saved and loaded but gets no gradient.
public final class Parameter {
    /// PyTorch state_dict key.
    public let name: String
    /// The value; a leaf that requires grad when the parameter is trainable.
    public let tensor: Tensor

    public init(name: String, shape: [Int], values: [Float], isTrainable: Bool = true) {
        self.name = name
        tensor = Tensor(shape: shape, values: values, requiresGrad: isTrainable)
    }

    public var shape: [Int] { tensor.shape }
    public var count: Int { tensor.count }
    public var isTrainable: Bool { tensor.requiresGrad }

    /// The gradient accumulated by backward passes since the last `zeroGrad()` (plain layout).
    public var grad: Tensor? { tensor.grad }

    public func zeroGrad() { tensor.zeroGrad() }

    /// The values in PyTorch order.
    public var values: [Float] {
        get { tensor.withUnsafeValues { Array($0) } }
        set {
            precondition(newValue.count == count, "\(name): \(count) values expected, got \(newValue.count)")
            tensor.withUnsafeMutableValues { target in _ = target.update(from: newValue) }
        }
    }

    /// Updates the values in place (PyTorch order), for optimisers.
    public func withUnsafeMutableValues<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try tensor.withUnsafeMutableValues(body)
    }

    /// Reads the gradient in place (PyTorch order); nil when no gradient has been accumulated.
    public func withUnsafeGrad<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R? {
        guard let grad = tensor.grad else { return nil }
        return try grad.withUnsafeValues(body)
    }

    /// Writes into the accumulated gradient in place (gradient clipping); nil when there is none.
    public func withUnsafeMutableGrad<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R? {
        // A gradient may share its buffer with another leaf's (y = a + b): copy before writing.
        guard let grad = try? tensor.ownedGrad() else { return nil }
        return try grad.withUnsafeMutableValues(body)
    }
}

/// A named non-trainable tensor that ops update in place: a BatchNorm's running mean or variance.
public final class Buffer {
    /// PyTorch state_dict key (`bn1.running_mean`).
    public let name: String
    public let tensor: Tensor

    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        tensor = Tensor(shape: shape, values: values)
    }

    public var shape: [Int] { tensor.shape }

    /// The values in PyTorch order.
    public var values: [Float] {
        get { tensor.withUnsafeValues { Array($0) } }
        set {
            precondition(newValue.count == tensor.count, "\(name): \(tensor.count) values expected, got \(newValue.count)")
            tensor.withUnsafeMutableValues { target in _ = target.update(from: newValue) }
        }
    }

    public func withUnsafeMutableValues<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try tensor.withUnsafeMutableValues(body)
    }
}
