// An IResNet-18 training step built directly on Engine ops (stem, 4 stages of IBasicBlocks, BN2d, flatten,
// fc, BN1d, a normalised-linear head with cross-entropy), to see where an Engine step spends its time
// (run with DNNL_VERBOSE=1 to split it by primitive). The real model lives in NN.
import Engine
import Foundation

private var trunkGenerator = SystemRandomNumberGenerator()

private func random(_ count: Int, std: Float) -> [Float] {
    (0..<count).map { _ in Float.random(in: -1.7...1.7, using: &trunkGenerator) * std }
}

private final class BN {
    let weight: Parameter, bias: Parameter, mean: Buffer, variance: Buffer
    init(_ name: String, _ channels: Int, frozenWeight: Bool = false) {
        weight = Parameter(name: name + ".weight", shape: [channels], values: Array(repeating: 1, count: channels),
                           isTrainable: !frozenWeight)
        bias = Parameter(name: name + ".bias", shape: [channels], values: Array(repeating: 0, count: channels))
        mean = Buffer(name: name + ".running_mean", shape: [channels], values: Array(repeating: 0, count: channels))
        variance = Buffer(name: name + ".running_var", shape: [channels], values: Array(repeating: 1, count: channels))
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        try batchNorm(x, weight: weight.tensor, bias: bias.tensor, runningMean: mean, runningVar: variance, training: true)
    }
    var parameters: [Parameter] { [weight, bias] }
}

private func convWeight(_ name: String, _ out: Int, _ input: Int, _ kernel: Int) -> Parameter {
    Parameter(name: name, shape: [out, input, kernel, kernel], values: random(out * input * kernel * kernel, std: 0.05))
}

private final class Block {
    let bn1: BN, conv1: Parameter, bn2: BN, prelu: Parameter, conv2: Parameter, bn3: BN
    let downsample: (Parameter, BN)?
    let stride: Int
    init(_ name: String, _ input: Int, _ out: Int, stride: Int) {
        bn1 = BN(name + ".bn1", input)
        conv1 = convWeight(name + ".conv1.weight", out, input, 3)
        bn2 = BN(name + ".bn2", out)
        prelu = Parameter(name: name + ".prelu.weight", shape: [out], values: Array(repeating: 0.25, count: out))
        conv2 = convWeight(name + ".conv2.weight", out, out, 3)
        bn3 = BN(name + ".bn3", out)
        downsample = stride != 1 || input != out
            ? (convWeight(name + ".downsample.0.weight", out, input, 1), BN(name + ".downsample.1", out)) : nil
        self.stride = stride
    }
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        var out = try bn1(x)
        out = try conv2d(out, weight: conv1.tensor, padding: 1)
        out = try Engine.prelu(bn2(out), weight: prelu.tensor)
        out = try bn3(conv2d(out, weight: conv2.tensor, stride: stride, padding: 1))
        let shortcut = try downsample.map { try $0.1(conv2d(x, weight: $0.0.tensor, stride: stride)) } ?? x
        return try out + shortcut
    }
    var parameters: [Parameter] {
        [conv1, prelu, conv2] + bn1.parameters + bn2.parameters + bn3.parameters
            + (downsample.map { [$0.0] + $0.1.parameters } ?? [])
    }
}

func runTrunk(batch: Int, size: Int, steps: Int, dtype: DType) throws {
    let stem = convWeight("conv1.weight", 64, 3, 3), stemBN = BN("bn1", 64)
    let stemPReLU = Parameter(name: "prelu.weight", shape: [64], values: Array(repeating: 0.25, count: 64))
    var blocks: [Block] = []
    var channels = 64
    for (stage, out) in [64, 128, 256, 512].enumerated() {
        for index in 0..<2 {
            blocks.append(Block("layer\(stage + 1).\(index)", channels, out, stride: index == 0 ? 2 : 1))
            channels = out
        }
    }
    let bn2 = BN("bn2", 512)
    let spatial = size / 16
    let fc = Parameter(name: "fc.weight", shape: [512, 512 * spatial * spatial],
                       values: random(512 * 512 * spatial * spatial, std: 0.01))
    let fcBias = Parameter(name: "fc.bias", shape: [512], values: Array(repeating: 0, count: 512))
    let features = BN("features", 512, frozenWeight: true)
    let classes = 1000
    let head = Parameter(name: "head.weight", shape: [classes, 512], values: random(classes * 512, std: 0.01))
    let parameters = [stem, stemPReLU, fc, fcBias, head] + stemBN.parameters + blocks.flatMap { $0.parameters }
        + bn2.parameters + features.parameters
    print("parameters: \(parameters.reduce(0) { $0 + $1.count })")

    let images = Tensor(shape: [batch, 3, size, size], values: random(batch * 3 * size * size, std: 1))
    let labels = (0..<batch).map { $0 % classes }
    var times: [Double] = []
    for step in 0..<steps {
        let start = clockSeconds()
        var x = try prelu(stemBN(conv2d(images.converted(to: dtype), weight: stem.tensor, padding: 1)),
                          weight: stemPReLU.tensor)
        for block in blocks { x = try block(x) }
        x = try bn2(x).flattened()
        let embedding = try features(linear(x, weight: fc.tensor, bias: fcBias.tensor))
        let logits = try matmul(embedding.normalizedRows(), head.tensor.normalizedRows(), transposeB: true)
        let loss = try crossEntropy(logits.scaled(by: 64), labels: labels)
        try loss.backward()
        for parameter in parameters { parameter.zeroGrad() }
        let seconds = clockSeconds() - start
        times.append(seconds)
        print(String(format: "step %d: loss %.4f, %.3f s, %.2f images/s", step, try loss.item(), seconds,
                     Double(batch) / seconds))
    }
    let median = times.dropFirst().sorted()[(times.count - 1) / 2]
    print(String(format: "median after warm-up: %.3f s/step, %.2f images/s (IResNet-18 at %d, batch %d, %@)",
                 median, Double(batch) / median, size, batch, "\(dtype)"))
}
