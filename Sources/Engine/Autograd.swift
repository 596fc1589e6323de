import Foundation
import CDNNL

// Reverse-mode autograd. An op whose inputs need gradients records a Node on its result: the inputs and
// a closure mapping the result's gradient to the inputs' gradients (the derivative lives next to the
// forward code of each op). `backward()` walks these records from the loss in reverse creation order.

/// Where the gradient of one input of a recorded op goes. Non-leaf inputs are reached through their
/// producing node, so the graph does not keep their buffers alive (only what each derivative saves).
enum Edge {
    case node(Node, shape: [Int])
    case leaf(Tensor)
    case none

    init(_ tensor: Tensor) {
        if let node = tensor.node {
            self = .node(node, shape: tensor.shape)
        } else if tensor.requiresGrad {
            self = .leaf(tensor)
        } else {
            self = .none
        }
    }

    var shape: [Int]? {
        switch self {
        case let .node(_, shape): return shape
        case let .leaf(tensor): return tensor.shape
        case .none: return nil
        }
    }
}

/// One recorded operation.
final class Node {
    let name: String
    let inputs: [Edge]
    /// Creation order; a result is always created after its inputs, so descending order is a valid
    /// reverse topological order.
    let sequence: Int
    /// Maps the gradient of the result to one gradient per input (nil where none flows). Released after
    /// use so saved activations are freed.
    var derivative: ((Tensor) throws -> [Tensor?])?

    /// Shared by every thread that records (ranks as threads in tests): a lost update would give a later
    /// node a smaller number than an earlier one and break the order backward relies on.
    nonisolated(unsafe) private static var counter = 0
    private static let counterLock = NSLock()

    init(name: String, inputs: [Tensor], derivative: @escaping (Tensor) throws -> [Tensor?]) {
        self.name = name
        self.inputs = inputs.map(Edge.init)
        self.derivative = derivative
        Node.counterLock.lock()
        Node.counter += 1
        sequence = Node.counter
        Node.counterLock.unlock()
    }
}

extension Tensor {
    /// Records `derivative` on `result` when any of `inputs` requires grad; returns `result`.
    @discardableResult
    static func record(_ result: Tensor, _ name: String, _ inputs: [Tensor],
                       _ derivative: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        if inputs.contains(where: { $0.requiresGrad }) {
            result.requiresGrad = true
            result.node = Node(name: name, inputs: inputs, derivative: derivative)
        }
        return result
    }

    /// Back-propagates from this tensor. With no `gradient` the tensor must hold one element (a loss)
    /// and is seeded with 1. Gradients add into the `grad` of every leaf that requires grad, so several
    /// backward passes accumulate until `zeroGrad()`. The graph is freed afterwards. An `observer` hears
    /// of each leaf as soon as this pass has added its last gradient to it, and after every recorded op.
    public func backward(gradient: Tensor? = nil, observer: BackwardObserver? = nil) throws {
        guard requiresGrad else {
            throw EngineError.invalidArgument(operation: "backward", detail: "the tensor does not require grad")
        }
        let seed: Tensor
        if let gradient {
            precondition(gradient.shape == shape, "backward: gradient shape \(gradient.shape) != \(shape)")
            seed = gradient
        } else {
            guard count == 1 else {
                throw EngineError.invalidArgument(
                    operation: "backward", detail: "implicit gradient needs a one-element tensor, shape is \(shape)")
            }
            seed = Tensor(shape: shape, repeating: 1)
        }

        // Collect the recorded nodes reachable from self.
        guard let root = node else {
            try accumulateGrad(seed)   // a leaf: its gradient is the seed itself
            try observer?.gradientIsFinal(for: self)
            return
        }
        var nodes: [Node] = []
        var seen: Set<ObjectIdentifier> = [ObjectIdentifier(root)]
        var stack: [Node] = [root]
        while let current = stack.popLast() {
            nodes.append(current)
            for case let .node(input, _) in current.inputs where seen.insert(ObjectIdentifier(input)).inserted {
                stack.append(input)
            }
        }
        nodes.sort { $0.sequence > $1.sequence }

        // For the observer: how many recorded inputs of each leaf are still to be visited.
        var usesLeft: [ObjectIdentifier: Int] = [:]
        if observer != nil {
            for node in nodes {
                for case let .leaf(tensor) in node.inputs { usesLeft[ObjectIdentifier(tensor), default: 0] += 1 }
            }
        }
        func visited(_ node: Node) throws {
            guard let observer else { return }
            for case let .leaf(tensor) in node.inputs {
                let key = ObjectIdentifier(tensor)
                usesLeft[key]! -= 1
                if usesLeft[key] == 0 { try observer.gradientIsFinal(for: tensor) }
            }
            try observer.opIsDone()
        }

        // Gradients of non-leaf tensors, keyed by the node that produced them.
        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
        for node in nodes {
            guard let gradient = pending.removeValue(forKey: ObjectIdentifier(node)) else {
                try visited(node)   // no gradient reached it: its leaves get none from it
                continue
            }
            guard let derivative = node.derivative else {
                throw EngineError.invalidArgument(
                    operation: "backward", detail: "the graph through \(node.name) was already freed by a backward pass")
            }
            let inputGradients = try derivative(gradient)
            precondition(inputGradients.count == node.inputs.count, "\(node.name): derivative arity")
            node.derivative = nil
            for (edge, inputGradient) in zip(node.inputs, inputGradients) {
                guard let inputGradient, let shape = edge.shape else { continue }
                precondition(inputGradient.shape == shape,
                             "\(node.name): gradient shape \(inputGradient.shape) for input \(shape)")
                switch edge {
                case let .node(input, _):
                    let key = ObjectIdentifier(input)
                    pending[key] = try pending[key].map { try addGradients($0, inputGradient) } ?? inputGradient
                case let .leaf(tensor):
                    try tensor.accumulateGrad(inputGradient)
                case .none:
                    break
                }
            }
            try visited(node)
        }
    }

    /// Adds `gradient` into this leaf's `grad`, kept in this tensor's layout.
    /// The first gradient is kept as it comes (no copy); it may be shared (an add passes one gradient to
    /// both operands), so it is copied before anything writes into it (`ownedGrad()`).
    func accumulateGrad(_ gradient: Tensor) throws {
        let incoming = try gradient.reordered(to: desc)
        if let grad, gradIsOwned, dtype == .float32 {
            try addInPlace(grad, incoming)
        } else if let grad {
            self.grad = try addGradients(grad, incoming)   // a new buffer
            gradIsOwned = true
        } else {
            grad = incoming
            gradIsOwned = false
        }
    }

    /// The gradient, copied first if it may share its buffer with another tensor.
    func ownedGrad() throws -> Tensor? {
        if let grad, !gradIsOwned {
            self.grad = try copy(grad)
            gradIsOwned = true
        }
        return grad
    }

    /// Forgets the accumulated gradient.
    public func zeroGrad() { grad = nil }
}

/// The sum of two gradients of one tensor (layouts may differ; the result takes the first one's).
func addGradients(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try binary(dnnl_binary_add, a, b, "gradient sum")
}

/// A fresh copy of `tensor`'s data in the same layout.
func copy(_ tensor: Tensor) throws -> Tensor {
    let result = Tensor(desc: tensor.desc)
    result.storage.pointer.copyMemory(from: tensor.storage.pointer, byteCount: tensor.desc.byteCount)
    return result
}

/// target += source, elementwise over the whole buffer (same layout: padding stays zero).
func addInPlace(_ target: Tensor, _ source: Tensor) throws {
    precondition(target.desc == source.desc, "addInPlace: layouts differ \(target.desc) vs \(source.desc)")
    let n = target.desc.byteCount / 4
    let t = target.storage.floats(n), s = source.storage.floats(n)
    for i in 0..<n { t[i] += s[i] }
}

/// Follows a backward pass, for work that can start before it ends (DDP's gradient buckets).
public protocol BackwardObserver: AnyObject {
    /// No op left in this pass adds to `leaf`'s gradient (it may have received none).
    func gradientIsFinal(for leaf: Tensor) throws
    /// Called after each recorded op of the pass, in the order they run.
    func opIsDone() throws
}

extension Tensor {
    /// An operation whose value is computed outside the engine (collective communication, fused losses):
    /// `output` holds the value the caller computed from `inputs`, and `derivative` maps the gradient of
    /// `output` to one gradient per input (nil where none flows). Recorded as the engine's own ops are,
    /// when any input requires grad; returns `output`.
    public static func recording(_ output: Tensor, name: String, inputs: [Tensor],
                                 derivative: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        record(output, name, inputs, derivative)
    }
}
