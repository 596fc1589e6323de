// IResNet (insightface's arcface_torch iresnet18..200), as ../shared/reference/insightface.md describes it:
// stem conv3x3 -> BN -> PReLU, four stages of IBasicBlocks (the first of each with stride 2 and a
// conv1x1 + BN shortcut), then BN2d -> flatten -> dropout -> Linear -> BatchNorm1d with a frozen weight.
import Engine

/// BN -> conv3x3 (stride 1) -> BN -> PReLU -> conv3x3 (block stride) -> BN, plus the shortcut; no activation
/// after the add. Keys: bn1, conv1, bn2, prelu, conv2, bn3, downsample.0 (conv1x1), downsample.1 (BN).
public final class IBasicBlock: Module, UnaryLayer {
    public let bn1: BatchNorm, conv1: Conv2d, bn2: BatchNorm, prelu: PReLU, conv2: Conv2d, bn3: BatchNorm
    public let downsample: (conv: Conv2d, bn: BatchNorm)?

    public init(name: String, inChannels: Int, outChannels: Int, stride: Int, initializer: inout Initializer) {
        let convInit = WeightInit.normal(std: 0.1)
        bn1 = BatchNorm(name: Module.key(name, "bn1"), channels: inChannels, initializer: initializer)
        conv1 = Conv2d(name: Module.key(name, "conv1"), inChannels: inChannels, outChannels: outChannels,
                       kernelSize: 3, stride: 1, padding: 1, weightInit: convInit, initializer: &initializer)
        bn2 = BatchNorm(name: Module.key(name, "bn2"), channels: outChannels, initializer: initializer)
        prelu = PReLU(name: Module.key(name, "prelu"), channels: outChannels, initializer: initializer)
        conv2 = Conv2d(name: Module.key(name, "conv2"), inChannels: outChannels, outChannels: outChannels,
                       kernelSize: 3, stride: stride, padding: 1, weightInit: convInit, initializer: &initializer)
        bn3 = BatchNorm(name: Module.key(name, "bn3"), channels: outChannels, initializer: initializer)
        if stride != 1 || inChannels != outChannels {
            downsample = (Conv2d(name: Module.key(name, "downsample.0"), inChannels: inChannels, outChannels: outChannels,
                                 kernelSize: 1, stride: stride, weightInit: convInit, initializer: &initializer),
                          BatchNorm(name: Module.key(name, "downsample.1"), channels: outChannels, initializer: initializer))
        } else {
            downsample = nil
        }
        super.init(name: name)
        for child: Module in [bn1, conv1, bn2, prelu, conv2, bn3] { registerChild(child) }
        if let downsample {
            registerChild(downsample.conv)
            registerChild(downsample.bn)
        }
    }

    /// input [N, in, H, W] -> [N, out, H/stride, W/stride].
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        let residual = try bn3(conv2(prelu(bn2(conv1(bn1(input))))))
        let shortcut = try downsample.map { try $0.bn($0.conv(input)) } ?? input
        return try add(residual, shortcut)
    }
}

/// IResNet-18/34/50/100/200 with insightface's state_dict keys, layer order and initialisation.
public final class IResNet: Module, UnaryLayer {
    /// Blocks per stage for each depth (from `Network`, the list of backbones).
    public static let stageBlocks: [Int: [Int]] = Dictionary(uniqueKeysWithValues: Network.allCases.compactMap { network in
        network.iresnetDepth.map { ($0, network.stageBlocks!) }
    })

    public let conv1: Conv2d, bn1: BatchNorm, prelu: PReLU
    /// layer1 ... layer4.
    public let stages: [[IBasicBlock]]
    public let bn2: BatchNorm, dropout: Dropout, fc: Linear, features: BatchNorm
    public let imageHeight: Int, imageWidth: Int

    /// - depth: 18, 34, 50, 100 or 200.
    /// - widths: channels of the four stages (insightface: 64, 128, 256, 512; smaller for tests). The stem
    ///   has the first stage's width.
    /// - imageHeight, imageWidth: input size in pixels, each divisible by 16 (fc input: last width * H/16 * W/16).
    /// - embeddingSize: output features (512).
    /// - dropout: probability before the fc layer (insightface default 0).
    public init(depth: Int, widths: [Int] = [64, 128, 256, 512], imageHeight: Int = 112, imageWidth: Int = 112,
                embeddingSize: Int = 512, dropout dropoutProbability: Float = 0,
                initialization: Initialization = .random(seed: 0)) throws {
        guard let blocks = Network.iresnet(depth: depth)?.stageBlocks else {
            throw NNError("IResNet depth \(depth) is not one of \(IResNet.stageBlocks.keys.sorted())")
        }
        guard widths.count == 4, widths.allSatisfy({ $0 > 0 }) else {
            throw NNError("IResNet needs four positive stage widths, got \(widths)")
        }
        guard imageHeight > 0, imageWidth > 0, imageHeight % 16 == 0, imageWidth % 16 == 0 else {
            throw NNError("IResNet input \(imageHeight)x\(imageWidth) must have sides divisible by 16 (e.g. 112x112)")
        }
        guard dropoutProbability >= 0, dropoutProbability < 1 else {
            throw NNError("dropout probability \(dropoutProbability) is outside [0, 1)")
        }
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        var initializer = Initializer(initialization)
        conv1 = Conv2d(name: "conv1", inChannels: 3, outChannels: widths[0], kernelSize: 3, stride: 1, padding: 1,
                       weightInit: .normal(std: 0.1), initializer: &initializer)
        bn1 = BatchNorm(name: "bn1", channels: widths[0], initializer: initializer)
        prelu = PReLU(name: "prelu", channels: widths[0], initializer: initializer)
        var channels = widths[0]
        var stages: [[IBasicBlock]] = []
        for (stage, (count, width)) in zip(blocks, widths).enumerated() {
            stages.append((0..<count).map { index in
                let block = IBasicBlock(name: "layer\(stage + 1).\(index)", inChannels: index == 0 ? channels : width,
                                        outChannels: width, stride: index == 0 ? 2 : 1, initializer: &initializer)
                return block
            })
            channels = width
        }
        self.stages = stages
        bn2 = BatchNorm(name: "bn2", channels: channels, initializer: initializer)
        dropout = Dropout(name: "dropout", probability: dropoutProbability)
        fc = Linear(name: "fc", inFeatures: channels * (imageHeight / 16) * (imageWidth / 16), outFeatures: embeddingSize,
                    initializer: &initializer)
        features = BatchNorm(name: "features", channels: embeddingSize, frozenWeight: true, initializer: initializer)
        super.init(name: "")
        for child: Module in [conv1, bn1, prelu] { registerChild(child) }
        for block in stages.joined() { registerChild(block) }
        for child: Module in [bn2, dropout, fc, features] { registerChild(child) }
    }

    /// images [N, 3, H, W] (plain NCHW) -> embeddings [N, embeddingSize] (not normalised).
    public func callAsFunction(_ images: Tensor) throws -> Tensor {
        var x = try prelu(bn1(conv1(images)))
        for block in stages.joined() { x = try block(x) }
        return try features(fc(dropout(bn2(x).flattened())))
    }
}
