import Engine
import Foundation
import NN
import Randomness
import TensorFixtures
import XCTest

/// Backbones with weights a trained model could have: seeded random weights, batch-norm statistics measured on
/// a few batches at those weights (so activations stay in range through 50 layers), and batch-norm affine
/// parameters and PReLU slopes moved off their initial 1 / 0 / 0.25 so that a mapping error shows.
enum TestModels {
    static func iresnet(depth: Int, widths: [Int] = [64, 128, 256, 512], imageSize: Int = 112, embeddingSize: Int = 512,
                        seed: UInt64 = 3) throws -> IResNet {
        try realistic(IResNet(depth: depth, widths: widths, imageHeight: imageSize, imageWidth: imageSize,
                              embeddingSize: embeddingSize, initialization: .random(seed: seed)), imageSize: imageSize, seed: seed)
    }

    static func mobileFaceNet(seed: UInt64 = 5) throws -> MobileFaceNet {
        try realistic(MobileFaceNet(initialization: .random(seed: seed)), imageSize: 112, seed: seed)
    }

    private static func realistic<M: UnaryLayer>(_ model: M, imageSize: Int, seed: UInt64) throws -> M {
        var random = TestRandom(seed: seed)
        for module in model.allModules {
            if let norm = module as? BatchNorm {
                if norm.weight.isTrainable { norm.weight.values = norm.weight.values.map { _ in 1 + 0.2 * random.uniform() } }
                norm.bias.values = norm.bias.values.map { _ in 0.1 * random.uniform() }
            } else if let prelu = module as? PReLU {
                prelu.weight.values = prelu.weight.values.map { _ in 0.25 + 0.2 * random.uniform() }
            }
        }
        try recomputeBatchNormStatistics(of: model, batchCount: 2) { images(4, size: imageSize, random: &random) }
        model.eval()
        model.requireGradients(false)
        return model
    }

    /// Seeded images in [-1, 1] (the scale of normalised face crops), [count, 3, size, size].
    static func images(_ count: Int, size: Int = 112, seed: UInt64) -> Tensor {
        var random = TestRandom(seed: seed)
        return images(count, size: size, random: &random)
    }

    private static func images(_ count: Int, size: Int, random: inout TestRandom) -> Tensor {
        Tensor(shape: [count, 3, size, size], values: (0..<count * 3 * size * size).map { _ in random.uniform() })
    }
}

/// Values in [-1, 1) from the project's own generator.
struct TestRandom {
    private var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    mutating func uniform() -> Float { 2 * generator.unitIntervalFloat() - 1 }
}

/// Cosine similarity of each row of two [N, D] embeddings.
func rowCosines(_ a: [Float], _ b: [Float], dimension: Int) -> [Double] {
    stride(from: 0, to: a.count, by: dimension).map { start in
        var dot = 0.0, normA = 0.0, normB = 0.0
        for i in start..<start + dimension {
            dot += Double(a[i]) * Double(b[i])
            normA += Double(a[i]) * Double(a[i])
            normB += Double(b[i]) * Double(b[i])
        }
        return dot / (normA * normB).squareRoot()
    }
}

func writeFloats(_ values: [Float], to url: URL) throws {
    try values.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: url)
}

func readFloats(_ url: URL) throws -> [Float] {
    let data = try Data(contentsOf: url)
    return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

func temporaryDirectory(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
