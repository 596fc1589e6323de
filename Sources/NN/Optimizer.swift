import Engine

/// What a trainer needs of an optimiser: set the step's learning rate, update, clear gradients, save and
/// restore its state, and say which weights a model is evaluated and saved at.
public protocol Optimizer: AnyObject {
    /// Every parameter the optimiser updates, in its groups' order.
    var updatedParameters: [Parameter] { get }
    /// Sets the learning rate of every group (a scheduler's LR for the coming step).
    func setLearningRate(_ learningRate: Float)
    /// One update of every parameter that has a gradient.
    func step()
    func zeroGrad()
    /// The state a resumable checkpoint holds, as named tensors (and metadata).
    func stateTensors() -> SafeTensors
    /// Restores `stateTensors()`: all or nothing; `source` names the file in errors.
    func loadState(_ file: SafeTensors, source: String) throws
    /// The keys of `stateTensors()` that hold `parameter`'s state, each shaped like the parameter (a head
    /// sharded across ranks gathers and splits them with its weight).
    func stateKeys(of parameter: Parameter) -> [String]
    /// Whether evaluation needs other weights than the ones trained at (then `withEvaluationWeights` swaps
    /// them in, and batch-norm statistics measured at the training weights do not fit them).
    var evaluatesAtOtherWeights: Bool { get }
    /// Runs `body` with the parameters at the weights to evaluate and save, then puts the training weights back.
    func withEvaluationWeights<T>(_ body: () throws -> T) rethrows -> T
}

extension SGD: Optimizer {
    public var updatedParameters: [Parameter] { groups.flatMap(\.parameters) }

    public func setLearningRate(_ learningRate: Float) {
        for index in groups.indices { groups[index].learningRate = learningRate }
    }

    /// The momentum buffers, each named as its parameter.
    public func stateTensors() -> SafeTensors { momentumTensors(prefix: "") }

    public func loadState(_ file: SafeTensors, source: String) throws { try loadMomentum(from: file, prefix: "", source: source) }

    public func stateKeys(of parameter: Parameter) -> [String] { [parameter.name] }

    public var evaluatesAtOtherWeights: Bool { false }

    public func withEvaluationWeights<T>(_ body: () throws -> T) rethrows -> T { try body() }
}
