// The layers of the backbones: thin modules over the engine's ops, holding PyTorch-named state.
import Engine

/// How a weight tensor starts (each backbone picks the one its PyTorch reference uses).
public enum WeightInit {
    /// N(0, std^2): IResNet's convolutions (std 0.1), margin heads (std 0.01).
    case normal(std: Float)
    /// Kaiming normal, mode fan_out, ReLU gain: N(0, 2 / fan_out), fan_out = out * kH * kW (MobileFaceNet).
    case kaimingNormalFanOut
    /// PyTorch's default for Conv2d and Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in/groups * kH * kW.
    case pytorchDefault

    func values(_ initializer: inout Initializer, shape: [Int]) -> [Float] {
        let count = shape.reduce(1, *)
        let receptive = shape.dropFirst(2).reduce(1, *)
        switch self {
        case .normal(let std):
            return initializer.normal(count, std: std)
        case .kaimingNormalFanOut:
            return initializer.normal(count, std: (2 / Float(shape[0] * receptive)).squareRoot())
        case .pytorchDefault:
            return initializer.uniform(count, bound: 1 / Float(shape[1] * receptive).squareRoot())
        }
    }
}

/// torch.nn.Conv2d with square kernel, stride and padding.
/// weight: [out, in/groups, kernel, kernel]; bias: [out] or none.
public final class Conv2d: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Int, padding: Int, groups: Int
    /// Output shape of the latest forward pass (for counting multiply-adds).
    public private(set) var lastOutputShape: [Int]?

    public init(name: String, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
                padding: Int = 0, groups: Int = 1, bias: Bool = false,
                weightInit: WeightInit = .pytorchDefault, initializer: inout Initializer) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "\(name): channels not divisible by groups")
        self.stride = stride
        self.padding = padding
        self.groups = groups
        let shape = [outChannels, inChannels / groups, kernelSize, kernelSize]
        weight = Parameter(name: Module.key(name, "weight"), shape: shape,
                           values: weightInit.values(&initializer, shape: shape))
        // PyTorch's default bias bound is 1/sqrt(fan_in) whatever the weight init.
        self.bias = bias ? Parameter(name: Module.key(name, "bias"), shape: [outChannels],
                                     values: initializer.uniform(outChannels, bound: 1 / Float(shape[1] * kernelSize * kernelSize).squareRoot()))
                         : nil
        super.init(name: name)
        register(weight)
        if let bias = self.bias { register(bias) }
    }

    /// input [N, in, H, W] -> [N, out, H', W'].
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        let output = try conv2d(input, weight: self.input(weight), bias: bias.map(self.input),
                                stride: stride, padding: padding, groups: groups)
        lastOutputShape = output.shape
        return output
    }

    /// Multiply-adds of the latest forward pass, per image (0 before the first).
    public var lastMultiplyAddsPerImage: Int {
        guard let shape = lastOutputShape else { return 0 }
        return shape.dropFirst().reduce(1, *) * weight.shape.dropFirst().reduce(1, *)
    }
}

/// torch.nn.BatchNorm2d / BatchNorm1d: affine, eps, momentum 0.1, running statistics with the unbiased
/// batch variance, and `num_batches_tracked`. `frozenWeight` fixes the scale at 1 and trains only the
/// shift (IResNet's embedding BN).
public final class BatchNorm: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Buffer
    public let runningVar: Buffer
    public let numBatchesTracked: BatchCounter
    public let epsilon: Float
    public var momentum: Float
    /// Set, the training batch is every rank's together (torch.nn.SyncBatchNorm; see Engine.batchNorm).
    public var crossRankSum: CrossRankSum?

    public init(name: String, channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1,
                frozenWeight: Bool = false, initializer: Initializer) {
        self.epsilon = epsilon
        self.momentum = momentum
        // A frozen weight stays at 1 even in a zero-initialised model: nothing ever trains it.
        weight = Parameter(name: Module.key(name, "weight"), shape: [channels],
                           values: frozenWeight ? [Float](repeating: 1, count: channels) : initializer.constant(channels, 1),
                           isTrainable: !frozenWeight)
        bias = Parameter(name: Module.key(name, "bias"), shape: [channels], values: [Float](repeating: 0, count: channels))
        runningMean = Buffer(name: Module.key(name, "running_mean"), shape: [channels],
                             values: [Float](repeating: 0, count: channels))
        runningVar = Buffer(name: Module.key(name, "running_var"), shape: [channels],
                            values: [Float](repeating: 1, count: channels))
        numBatchesTracked = BatchCounter(name: Module.key(name, "num_batches_tracked"))
        super.init(name: name)
        register(weight)
        register(bias)
        register(runningMean)
        register(runningVar)
        register(numBatchesTracked)
    }

    /// input [N, C, H, W] or [N, C]; batch statistics in training mode (updating the running ones),
    /// running statistics in evaluation mode.
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        let output = try batchNorm(input, weight: self.input(weight), bias: self.input(bias),
                                   runningMean: runningMean, runningVar: runningVar, training: isTraining,
                                   momentum: momentum, epsilon: epsilon, crossRankSum: crossRankSum)
        if isTraining { numBatchesTracked.value += 1 }
        return output
    }
}

/// torch.nn.PReLU(channels): one slope per channel, initialised to 0.25. weight: [C].
public final class PReLU: Module, UnaryLayer {
    public let weight: Parameter

    public init(name: String, channels: Int, initializer: Initializer) {
        weight = Parameter(name: Module.key(name, "weight"), shape: [channels], values: initializer.constant(channels, 0.25))
        super.init(name: name)
        register(weight)
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try prelu(input, weight: self.input(weight))
    }
}

/// torch.nn.Linear. weight: [out, in]; bias: [out] or none.
public final class Linear: Module, UnaryLayer {
    public let weight: Parameter
    public let bias: Parameter?

    public init(name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true,
                weightInit: WeightInit = .pytorchDefault, initializer: inout Initializer) {
        weight = Parameter(name: Module.key(name, "weight"), shape: [outFeatures, inFeatures],
                           values: weightInit.values(&initializer, shape: [outFeatures, inFeatures]))
        self.bias = bias ? Parameter(name: Module.key(name, "bias"), shape: [outFeatures],
                                     values: initializer.uniform(outFeatures, bound: 1 / Float(inFeatures).squareRoot()))
                         : nil
        super.init(name: name)
        register(weight)
        if let bias = self.bias { register(bias) }
    }

    /// input [N, in] -> [N, out].
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try linear(input, weight: self.input(weight), bias: bias.map(self.input))
    }
}

/// torch.nn.Dropout(p): the identity in evaluation mode or with p = 0.
public final class Dropout: Module, UnaryLayer {
    public let probability: Float
    private var generator: SeededGenerator

    public init(name: String, probability: Float, seed: UInt64 = 0) {
        precondition(probability >= 0 && probability < 1, "\(name): dropout probability \(probability) outside [0, 1)")
        self.probability = probability
        generator = SeededGenerator(seed: seed)
        super.init(name: name)
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try dropout(input, probability: probability, training: isTraining, generator: &generator)
    }
}

extension Module {
    /// Multiply-adds of one image's latest forward pass through every Conv2d and Linear in this module
    /// (convolutions count once they have run; 0 before). Training costs about 3x this, in FLOPs 2x more.
    public var multiplyAddsPerImage: Int {
        var total = 0
        if let conv = self as? Conv2d { total += conv.lastMultiplyAddsPerImage }
        if let linear = self as? Linear { total += linear.weight.count }
        for child in childModules { total += child.multiplyAddsPerImage }
        return total
    }
}
