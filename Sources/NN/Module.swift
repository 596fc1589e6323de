// Modules: named parameters, buffers and batch counters in PyTorch's state_dict order, and an explicit
// training flag. Every tensor carries its full dotted PyTorch key, fixed when the module is built
// (`Module(name: "layer1.0")` names its weight "layer1.0.conv1.weight" and so on).
import Engine

/// A BatchNorm's `num_batches_tracked`: a named Int64 counter, saved as an I64 scalar.
public final class BatchCounter {
    /// PyTorch state_dict key (`bn1.num_batches_tracked`).
    public let name: String
    public var value: Int64

    public init(name: String, value: Int64 = 0) {
        self.name = name
        self.value = value
    }
}

/// One entry of a module's state, as PyTorch's state_dict lists it.
public enum StateEntry {
    case parameter(Parameter)
    case buffer(Buffer)
    case counter(BatchCounter)

    /// The PyTorch key.
    public var name: String {
        switch self {
        case .parameter(let parameter): return parameter.name
        case .buffer(let buffer): return buffer.name
        case .counter(let counter): return counter.name
        }
    }

    /// The tensor shape ([] for a counter).
    public var shape: [Int] {
        switch self {
        case .parameter(let parameter): return parameter.shape
        case .buffer(let buffer): return buffer.shape
        case .counter: return []
        }
    }
}

/// A layer or model. Subclasses register their parameters, buffers, counters and child modules in
/// PyTorch's order; `state` then lists them exactly as `state_dict()` does (a module's own parameters,
/// then its own buffers, then each child in turn).
open class Module {
    /// Dotted path of this module in the model ("" for the root, "layer1.0" for a block).
    public let name: String
    /// Whether the module is in training mode (batch statistics, dropout) or evaluation mode.
    /// Set it for a whole model with `train()` / `eval()`.
    public private(set) var isTraining = true
    /// Whether forward passes record gradients for this module's parameters (PyTorch's
    /// `requires_grad_`); off for pure inference, so no graph is kept. Set with `requireGradients(_:)`.
    public private(set) var gradientsEnabled = true
    private var ownParameters: [Parameter] = []
    private var ownBuffers: [StateEntry] = []
    private var children: [Module] = []

    public init(name: String) {
        self.name = name
    }

    /// The dotted key of `local` under `prefix`: "weight" under "layer1.0.conv1" is "layer1.0.conv1.weight".
    public static func key(_ prefix: String, _ local: String) -> String {
        prefix.isEmpty ? local : "\(prefix).\(local)"
    }

    /// The dotted key of `local` inside this module.
    public func key(_ local: String) -> String { Module.key(name, local) }

    /// Registers a parameter (named by the caller with `key(_:)`), in state_dict order.
    public func register(_ parameter: Parameter) { ownParameters.append(parameter) }

    /// Registers a buffer, in state_dict order (after every parameter of this module).
    public func register(_ buffer: Buffer) { ownBuffers.append(.buffer(buffer)) }

    /// Registers an Int64 counter, in state_dict order among the buffers.
    public func register(_ counter: BatchCounter) { ownBuffers.append(.counter(counter)) }

    /// Registers a child module (its name must extend this module's); returns it.
    @discardableResult
    public func registerChild<M: Module>(_ child: M) -> M {
        children.append(child)
        return child
    }

    /// The registered child modules, in order.
    public var childModules: [Module] { children }

    /// Every parameter, buffer and counter in PyTorch's state_dict order.
    public var state: [StateEntry] {
        var entries = ownParameters.map(StateEntry.parameter) + ownBuffers
        for child in children { entries += child.state }
        return entries
    }

    /// Every parameter (trainable and frozen), in state_dict order.
    public var parameters: [Parameter] {
        ownParameters + children.flatMap(\.parameters)
    }

    /// The parameters an optimiser updates (frozen ones, like IResNet's embedding BN weight, left out).
    public var trainableParameters: [Parameter] {
        parameters.filter(\.isTrainable)
    }

    /// Number of parameter elements, frozen ones included (as insightface counts them).
    public var parameterCount: Int {
        parameters.reduce(0) { $0 + $1.count }
    }

    /// Switches this module and every descendant to training (`true`) or evaluation mode.
    public func train(_ training: Bool = true) {
        isTraining = training
        for child in children { child.train(training) }
    }

    /// Turns gradient recording for the parameters of this module and its descendants on or off
    /// (as `model.requires_grad_(enabled)`; parameters keep their trainability for optimisers).
    public func requireGradients(_ enabled: Bool) {
        gradientsEnabled = enabled
        for child in children { child.requireGradients(enabled) }
    }

    /// The tensor a forward pass should use for `parameter`: itself, or a detached view when gradients are off.
    public func input(_ parameter: Parameter) -> Tensor {
        gradientsEnabled ? parameter.tensor : parameter.tensor.detached()
    }

    /// Evaluation mode: running statistics, no dropout.
    public func eval() { train(false) }

    /// Forgets the accumulated gradients of every parameter.
    public func zeroGrad() {
        for parameter in parameters { parameter.zeroGrad() }
    }
}

/// A module that maps one tensor to one tensor.
public protocol UnaryLayer: Module {
    func callAsFunction(_ input: Tensor) throws -> Tensor
}
