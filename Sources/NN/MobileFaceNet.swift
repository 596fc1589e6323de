// MobileFaceNet ("mbf" in insightface's arcface_torch), as ../shared/reference/insightface.md describes it.
// Module nesting reproduces arcface_torch's state_dict keys: layers.<i>.layers.<j>... for the body,
// conv_sep.layers.*, features.layers.{0.layers.*, 2, 3} for the GDC head.
import Engine

/// conv (no bias) -> BN -> PReLU (`activation`), or conv -> BN (a LinearBlock). Keys: layers.0/1/2.
public final class ConvBlock: Module, UnaryLayer {
    public let conv: Conv2d, bn: BatchNorm, prelu: PReLU?

    public init(name: String, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                groups: Int = 1, activation: Bool = true, initializer: inout Initializer) {
        conv = Conv2d(name: Module.key(name, "layers.0"), inChannels: inChannels, outChannels: outChannels,
                      kernelSize: kernelSize, stride: stride, padding: padding, groups: groups,
                      weightInit: .kaimingNormalFanOut, initializer: &initializer)
        bn = BatchNorm(name: Module.key(name, "layers.1"), channels: outChannels, initializer: initializer)
        prelu = activation ? PReLU(name: Module.key(name, "layers.2"), channels: outChannels, initializer: initializer) : nil
        super.init(name: name)
        registerChild(conv)
        registerChild(bn)
        if let prelu { registerChild(prelu) }
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        let normalised = try bn(conv(input))
        return try prelu.map { try $0(normalised) } ?? normalised
    }
}

/// 1x1 ConvBlock in->g, 3x3 depthwise ConvBlock g->g (stride s), 1x1 LinearBlock g->out; identity add
/// when `residual`. Keys: layers.0, layers.1, layers.2.
public final class DepthWise: Module, UnaryLayer {
    public let expand: ConvBlock, depthwise: ConvBlock, project: ConvBlock
    public let residual: Bool

    public init(name: String, inChannels: Int, outChannels: Int, groups: Int, stride: Int, residual: Bool,
                initializer: inout Initializer) {
        self.residual = residual
        expand = ConvBlock(name: Module.key(name, "layers.0"), inChannels: inChannels, outChannels: groups,
                           kernelSize: 1, initializer: &initializer)
        depthwise = ConvBlock(name: Module.key(name, "layers.1"), inChannels: groups, outChannels: groups,
                              kernelSize: 3, stride: stride, padding: 1, groups: groups, initializer: &initializer)
        project = ConvBlock(name: Module.key(name, "layers.2"), inChannels: groups, outChannels: outChannels,
                            kernelSize: 1, activation: false, initializer: &initializer)
        super.init(name: name)
        registerChild(expand)
        registerChild(depthwise)
        registerChild(project)
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        let output = try project(depthwise(expand(input)))
        return residual ? try add(input, output) : output
    }
}

/// A stack of residual DepthWise(c, c, g, stride 1) blocks. Keys: layers.<i>.
public final class Residual: Module, UnaryLayer {
    public let blocks: [DepthWise]

    public init(name: String, channels: Int, count: Int, groups: Int, initializer: inout Initializer) {
        blocks = (0..<count).map { index in
            DepthWise(name: Module.key(name, "layers.\(index)"), inChannels: channels, outChannels: channels,
                      groups: groups, stride: 1, residual: true, initializer: &initializer)
        }
        super.init(name: name)
        for block in blocks { registerChild(block) }
    }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try blocks.reduce(input) { try $1($0) }
    }
}

/// MobileFaceNet at insightface's width (scale 2, blocks 1/4/6/2): about 2.06M parameters, 0.44 GMACs.
public final class MobileFaceNet: Module, UnaryLayer {
    /// layers.0 ... layers.7.
    public let body: [any UnaryLayer]
    public let convSep: ConvBlock
    /// The GDC head: 7x7 depthwise LinearBlock, flatten, Linear without bias, BatchNorm1d.
    public let gdc: ConvBlock, linear: Linear, features: BatchNorm

    /// - imageSize: 112 (the GDC's 7x7 depthwise kernel expects a 7x7 map: 112 / 16).
    public init(embeddingSize: Int = 512, imageSize: Int = 112, initialization: Initialization = .random(seed: 0)) throws {
        guard imageSize == 112 else {
            throw NNError("MobileFaceNet takes 112x112 input (its 7x7 global depthwise conv needs a 7x7 map), got \(imageSize)")
        }
        var initializer = Initializer(initialization)
        func name(_ index: Int) -> String { "layers.\(index)" }
        body = [
            ConvBlock(name: name(0), inChannels: 3, outChannels: 128, kernelSize: 3, stride: 2, padding: 1, initializer: &initializer),
            ConvBlock(name: name(1), inChannels: 128, outChannels: 128, kernelSize: 3, stride: 1, padding: 1, groups: 64,
                      initializer: &initializer),
            DepthWise(name: name(2), inChannels: 128, outChannels: 128, groups: 128, stride: 2, residual: false, initializer: &initializer),
            Residual(name: name(3), channels: 128, count: 4, groups: 128, initializer: &initializer),
            DepthWise(name: name(4), inChannels: 128, outChannels: 256, groups: 256, stride: 2, residual: false, initializer: &initializer),
            Residual(name: name(5), channels: 256, count: 6, groups: 256, initializer: &initializer),
            DepthWise(name: name(6), inChannels: 256, outChannels: 256, groups: 512, stride: 2, residual: false, initializer: &initializer),
            Residual(name: name(7), channels: 256, count: 2, groups: 256, initializer: &initializer),
        ]
        convSep = ConvBlock(name: "conv_sep", inChannels: 256, outChannels: 512, kernelSize: 1, initializer: &initializer)
        gdc = ConvBlock(name: "features.layers.0", inChannels: 512, outChannels: 512, kernelSize: 7, groups: 512,
                        activation: false, initializer: &initializer)
        linear = Linear(name: "features.layers.2", inFeatures: 512, outFeatures: embeddingSize, bias: false,
                        weightInit: .kaimingNormalFanOut, initializer: &initializer)
        features = BatchNorm(name: "features.layers.3", channels: embeddingSize, initializer: initializer)
        super.init(name: "")
        for layer in body { registerChild(layer) }
        for child: Module in [convSep, gdc, linear, features] { registerChild(child) }
    }

    /// images [N, 3, 112, 112] -> embeddings [N, embeddingSize].
    public func callAsFunction(_ images: Tensor) throws -> Tensor {
        var x = images
        for layer in body { x = try layer(x) }
        return try features(linear(gdc(convSep(x)).flattened()))
    }
}
