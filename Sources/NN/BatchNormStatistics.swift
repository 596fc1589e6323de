import Engine

extension Module {
    /// This module and every module below it, depth first.
    public var allModules: [Module] { [self] + childModules.flatMap(\.allModules) }
}

/// Re-measures every batch norm's running statistics of `model` at its current weights: resets them and
/// runs `batchCount` batches from `nextBatch` forward in training mode without a graph, each batch weighted
/// equally (PyTorch's momentum = None, a cumulative average). Schedule-free training evaluates at weights it
/// never trained at, whose statistics the running ones (measured along the training weights) do not fit.
/// The layers' momentum, the batch counters and the model's modes are restored afterwards. Synchronised
/// layers measure this process's batches alone (one rank measures; the others make no matching calls).
public func recomputeBatchNormStatistics(of model: any UnaryLayer, batchCount: Int, nextBatch: () throws -> Tensor) throws {
    let layers = model.allModules.compactMap { $0 as? BatchNorm }
    guard !layers.isEmpty, batchCount > 0 else { return }
    let momenta = layers.map(\.momentum), counters = layers.map(\.numBatchesTracked.value), sums = layers.map(\.crossRankSum)
    let wasTraining = model.isTraining, hadGradients = model.gradientsEnabled
    defer {
        for (layer, (momentum, (counter, sum))) in zip(layers, zip(momenta, zip(counters, sums))) {
            layer.momentum = momentum
            layer.numBatchesTracked.value = counter
            layer.crossRankSum = sum
        }
        model.train(wasTraining)
        model.requireGradients(hadGradients)
    }
    for layer in layers {
        layer.crossRankSum = nil
        layer.runningMean.values = [Float](repeating: 0, count: layer.runningMean.values.count)
        layer.runningVar.values = [Float](repeating: 1, count: layer.runningVar.values.count)
    }
    model.train()
    model.requireGradients(false)
    for index in 1...batchCount {
        for layer in layers { layer.momentum = 1 / Float(index) }
        _ = try model(try nextBatch()).values()
    }
}
