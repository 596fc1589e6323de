// The margin-free core of ArcFace-style heads: cosine similarity of each embedding to each class centre.
import Engine

/// cos = normalize(x) . normalize(W)^T with W [classes, features] initialised N(0, 0.01) (insightface's
/// margin heads, eps 1e-12). The caller multiplies by the scale s and applies its margin and loss.
public final class NormalisedLinear: Module, UnaryLayer {
    /// Class centres: [classes, features].
    public let weight: Parameter

    public init(name: String, features: Int, classes: Int, initialization: Initialization = .random(seed: 1)) {
        var initializer = Initializer(initialization)
        weight = Parameter(name: Module.key(name, "weight"), shape: [classes, features],
                           values: initializer.normal(classes * features, std: 0.01))
        super.init(name: name)
        register(weight)
    }

    /// embeddings [N, features] -> cosines [N, classes].
    public func callAsFunction(_ embeddings: Tensor) throws -> Tensor {
        try matmul(embeddings.normalizedRows(), input(weight).normalizedRows(), transposeB: true)
    }

    /// Cross entropy of s * cos without a margin (the head HaarFace's benchmarks and fixtures use).
    public func loss(_ embeddings: Tensor, labels: [Int], scale: Float = 64) throws -> Tensor {
        try crossEntropy(callAsFunction(embeddings).scaled(by: scale), labels: labels)
    }
}
