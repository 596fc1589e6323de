// Batch normalisation on oneDNN's batch-normalization primitive (forward training / inference, backward),
// with PyTorch's running statistics: momentum 0.1 by default and the unbiased batch variance.
import CDNNL

/// Batch norm over dimension 1 of a [N, C, H, W] (BatchNorm2d) or [N, C] (BatchNorm1d) tensor.
/// - weight, bias: [C] or nil (affine off). A weight that does not require grad stays fixed (frozen).
/// - training: normalise with the batch statistics and update the running ones
///   (running = (1 - momentum) * running + momentum * batch, the variance unbiased: * n / (n - 1),
///   n = N*H*W); otherwise normalise with the running statistics, which are then required.
/// The output keeps the input's layout.
public func batchNorm(_ input: Tensor, weight: Tensor?, bias: Tensor?,
                      runningMean: Buffer?, runningVar: Buffer?, training: Bool,
                      momentum: Float = 0.1, epsilon: Float = 1e-5) throws -> Tensor {
    let shape = input.shape
    guard shape.count == 2 || shape.count == 4 else {
        throw EngineError.invalidArgument(operation: "batchNorm", detail: "input must be [N, C] or [N, C, H, W], got \(shape)")
    }
    let channels = shape[1]
    for (name, tensor) in [("weight", weight?.shape), ("bias", bias?.shape),
                           ("running_mean", runningMean?.shape), ("running_var", runningVar?.shape)] {
        if let tensor, tensor != [channels] {
            throw EngineError.invalidArgument(operation: "batchNorm", detail: "\(name) must be [\(channels)], got \(tensor) (input \(shape))")
        }
    }
    let reductionSize = shape.reduce(1, *) / channels
    if training && reductionSize < 2 {
        throw EngineError.invalidArgument(operation: "batchNorm",
                                          detail: "training needs more than one value per channel, input \(shape)")
    }
    guard training || (runningMean != nil && runningVar != nil) else {
        throw EngineError.invalidArgument(operation: "batchNorm", detail: "evaluation needs running statistics")
    }

    // oneDNN normalises 4-D data; a [N, C] batch is viewed as [N, C, 1, 1].
    let data: Tensor
    if shape.count == 2 {
        let plain = try input.reordered(to: .plain(shape))
        data = try Tensor(desc: .plain(shape + [1, 1]), storage: plain.storage)
    } else {
        data = input
    }
    let dataDesc = data.desc
    var flags: UInt32 = 0
    if weight != nil { flags |= dnnl_use_scale.rawValue }
    if bias != nil { flags |= dnnl_use_shift.rawValue }
    if !training { flags |= dnnl_use_global_stats.rawValue }
    let needsGrad = input.requiresGrad || (weight?.requiresGrad ?? false) || (bias?.requiresGrad ?? false)
    let propKind = (training || needsGrad) ? dnnl_forward_training : dnnl_forward_inference
    let detail = "input \(shape) layout \(dataDesc) training \(training) flags \(flags)"

    let forward = try PrimitiveCache.shared.primitive("bn.fwd|\(propKind.rawValue)|\(flags)|\(epsilon)|\(dataDesc)") {
        var desc = dnnl_batch_normalization_desc_t()
        var md = dataDesc.raw
        try check(dnnl_batch_normalization_forward_desc_init(&desc, propKind, &md, epsilon, flags),
                  "batch_normalization_forward_desc_init", detail)
        return try Primitive(PrimitiveDesc(&desc, "batch normalization forward", detail), name: "bn fwd \(detail)")
    }
    let output = Tensor(desc: dataDesc)
    let mean: Tensor, variance: Tensor
    if training {
        mean = try Tensor(desc: .plain([channels]))
        variance = try Tensor(desc: .plain([channels]))
    } else {
        mean = runningMean!.tensor
        variance = runningVar!.tensor
    }
    var args = [(Arg.src, try data.memory()), (Arg.dst, try output.memory()),
                (Arg.mean, try mean.memory()), (Arg.variance, try variance.memory())]
    if let weight { args.append((Arg.scale, try weight.memory())) }
    if let bias { args.append((Arg.shift, try bias.memory())) }
    try forward.execute(args)

    if training, let runningMean, let runningVar {
        let unbias = Float(reductionSize) / Float(reductionSize - 1)
        mean.withUnsafeValues { batchMean in
            runningMean.withUnsafeMutableValues { running in
                for c in 0..<channels { running[c] = (1 - momentum) * running[c] + momentum * batchMean[c] }
            }
        }
        variance.withUnsafeValues { batchVar in
            runningVar.withUnsafeMutableValues { running in
                for c in 0..<channels { running[c] = (1 - momentum) * running[c] + momentum * batchVar[c] * unbias }
            }
        }
    }
    // In evaluation the statistics are buffers that a later training step may overwrite: save a copy.
    let savedMean = training ? mean : try copy(mean)
    let savedVariance = training ? variance : try copy(variance)

    let result = shape.count == 2 ? try Tensor(desc: .plain(shape), storage: output.storage) : output
    let inputs = [input] + [weight, bias].compactMap { $0 }
    let pd = forward.desc
    return Tensor.record(result, "batchNorm", inputs) { gradient in
        let backwardKind = (weight != nil || bias != nil) ? dnnl_backward : dnnl_backward_data
        let backward = try PrimitiveCache.shared.primitive("bn.bwd|\(backwardKind.rawValue)|\(flags)|\(epsilon)|\(dataDesc)") {
            var desc = dnnl_batch_normalization_desc_t()
            var md = dataDesc.raw, diffMd = dataDesc.raw
            try check(dnnl_batch_normalization_backward_desc_init(&desc, backwardKind, &diffMd, &md, epsilon, flags),
                      "batch_normalization_backward_desc_init", detail)
            return try Primitive(PrimitiveDesc(&desc, hint: pd, "batch normalization backward", detail),
                                 name: "bn bwd \(detail)")
        }
        let diffDst: Tensor
        if shape.count == 2 {
            let plain = try gradient.reordered(to: .plain(shape))
            diffDst = try Tensor(desc: .plain(shape + [1, 1]), storage: plain.storage)
        } else {
            diffDst = try gradient.reordered(to: dataDesc)
        }
        let diffSrc = Tensor(desc: dataDesc)
        var args = [(Arg.src, try data.memory()), (Arg.diffDst, try diffDst.memory()),
                    (Arg.mean, try savedMean.memory()), (Arg.variance, try savedVariance.memory()),
                    (Arg.diffSrc, try diffSrc.memory())]
        var diffScale: Tensor?, diffShift: Tensor?
        if let weight {
            args.append((Arg.scale, try weight.memory()))
            diffScale = try Tensor(desc: .plain([channels]))
            args.append((Arg.diffScale, try diffScale!.memory()))
        }
        if let bias {
            args.append((Arg.shift, try bias.memory()))
            diffShift = try Tensor(desc: .plain([channels]))
            args.append((Arg.diffShift, try diffShift!.memory()))
        }
        try backward.execute(args)
        let inputGradient = shape.count == 2 ? try Tensor(desc: .plain(shape), storage: diffSrc.storage) : diffSrc
        var gradients: [Tensor?] = [inputGradient]
        if weight != nil { gradients.append(diffScale) }
        if bias != nil { gradients.append(diffShift) }
        return gradients
    }
}
