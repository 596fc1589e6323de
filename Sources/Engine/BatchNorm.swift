// Batch normalisation on oneDNN's batch-normalization primitive (forward training / inference, backward),
// with PyTorch's running statistics: momentum 0.1 by default and the unbiased batch variance; and its
// synchronised form (torch.nn.SyncBatchNorm), whose statistics are those of every rank's batch together.
import CDNNL

/// Sums `values` over the ranks of a data-parallel world in place. Every rank calls it at the same points
/// with the same count (it is a collective: an allreduce).
public typealias CrossRankSum = (UnsafeMutableBufferPointer<Double>) throws -> Void

/// Batch norm over dimension 1 of a [N, C, H, W] (BatchNorm2d) or [N, C] (BatchNorm1d) tensor.
/// - weight, bias: [C] or nil (affine off). A weight that does not require grad stays fixed (frozen).
/// - training: normalise with the batch statistics and update the running ones
///   (running = (1 - momentum) * running + momentum * batch, the variance unbiased: * n / (n - 1),
///   n = N*H*W); otherwise normalise with the running statistics, which are then required.
/// - crossRankSum: in training, makes the batch the union of every rank's (torch.nn.SyncBatchNorm): the
///   statistics are summed over the ranks in forward, and so are the two sums backward needs for the input's
///   gradient; the weight's and bias's gradients stay this rank's (the data-parallel average adds them up).
/// The output keeps the input's layout.
public func batchNorm(_ input: Tensor, weight: Tensor?, bias: Tensor?,
                      runningMean: Buffer?, runningVar: Buffer?, training: Bool,
                      momentum: Float = 0.1, epsilon: Float = 1e-5, crossRankSum: CrossRankSum? = nil) throws -> Tensor {
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
    if training, let crossRankSum {
        return try synchronisedBatchNorm(input, data: data, weight: weight, bias: bias, runningMean: runningMean,
                                         runningVar: runningVar, momentum: momentum, epsilon: epsilon, crossRankSum)
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

/// Training-mode batch norm whose batch is every rank's together (see `batchNorm`'s crossRankSum): the
/// per-channel sums and sums of squares of this rank's batch, summed over the ranks (in Double), give the
/// mean and biased variance that oneDNN normalises with (as given statistics); backward sums dy and
/// dy * x-hat over the ranks and forms the input's gradient from them, as torch's SyncBatchNorm does:
///   dx = weight / sqrt(var + eps) * (dy - sum(dy) / n - x-hat * sum(dy * x-hat) / n), n every rank's count.
private func synchronisedBatchNorm(_ input: Tensor, data: Tensor, weight: Tensor?, bias: Tensor?,
                                   runningMean: Buffer?, runningVar: Buffer?, momentum: Float, epsilon: Float,
                                   _ crossRankSum: @escaping CrossRankSum) throws -> Tensor {
    let shape = input.shape, dims = data.shape, dataDesc = data.desc
    let batch = dims[0], channels = dims[1], spatial = dims[2] * dims[3]
    let plainInput = try data.reordered(to: .plain(dims))   // float32, [N, C, H, W] order

    // The statistics of the union of the ranks' batches: [sum x (C), sum x^2 (C), count], summed.
    var sums = [Double](repeating: 0, count: 2 * channels + 1)
    plainInput.withUnsafeValues { x in
        for n in 0..<batch {
            for c in 0..<channels {
                let plane = UnsafeBufferPointer(rebasing: x[(n * channels + c) * spatial ..< (n * channels + c + 1) * spatial])
                let (sum, squares) = sums8(plane, plane) { x, _ in (x, x * x) }
                sums[c] += sum
                sums[channels + c] += squares
            }
        }
    }
    sums[2 * channels] = Double(batch * spatial)
    try sums.withUnsafeMutableBufferPointer { try crossRankSum($0) }
    let count = sums[2 * channels]
    let meanValues = (0..<channels).map { sums[$0] / count }
    let varianceValues = (0..<channels).map { max(sums[channels + $0] / count - meanValues[$0] * meanValues[$0], 0) }
    let mean = Tensor(shape: [channels], values: meanValues.map { Float($0) })
    let variance = Tensor(shape: [channels], values: varianceValues.map { Float($0) })

    var flags = dnnl_use_global_stats.rawValue
    if weight != nil { flags |= dnnl_use_scale.rawValue }
    if bias != nil { flags |= dnnl_use_shift.rawValue }
    let detail = "input \(shape) layout \(dataDesc) synchronised flags \(flags)"
    let forward = try PrimitiveCache.shared.primitive("bn.fwd|\(dnnl_forward_training.rawValue)|\(flags)|\(epsilon)|\(dataDesc)") {
        var desc = dnnl_batch_normalization_desc_t()
        var md = dataDesc.raw
        try check(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_training, &md, epsilon, flags),
                  "batch_normalization_forward_desc_init", detail)
        return try Primitive(PrimitiveDesc(&desc, "batch normalization forward", detail), name: "bn fwd \(detail)")
    }
    let output = Tensor(desc: dataDesc)
    var args = [(Arg.src, try data.memory()), (Arg.dst, try output.memory()),
                (Arg.mean, try mean.memory()), (Arg.variance, try variance.memory())]
    if let weight { args.append((Arg.scale, try weight.memory())) }
    if let bias { args.append((Arg.shift, try bias.memory())) }
    try forward.execute(args)

    if let runningMean, let runningVar {
        let unbias = count / (count - 1)
        runningMean.withUnsafeMutableValues { running in
            for c in 0..<channels { running[c] = (1 - momentum) * running[c] + momentum * Float(meanValues[c]) }
        }
        runningVar.withUnsafeMutableValues { running in
            for c in 0..<channels { running[c] = (1 - momentum) * running[c] + momentum * Float(varianceValues[c] * unbias) }
        }
    }

    let result = shape.count == 2 ? try Tensor(desc: .plain(shape), storage: output.storage) : output
    let scale = try weight?.values() ?? [Float](repeating: 1, count: channels)
    let inverseDeviation = varianceValues.map { 1 / ($0 + Double(epsilon)).squareRoot() }
    let inputs = [input] + [weight, bias].compactMap { $0 }
    return Tensor.record(result, "batchNorm", inputs) { gradient in
        let dy = try gradient.reordered(to: .plain(shape))   // float32, the same order as [N, C, H, W]
        // [sum dy (C), sum dy * x-hat (C)] over this rank's batch, then over every rank's.
        var local = [Double](repeating: 0, count: 2 * channels)
        plainInput.withUnsafeValues { x in
            dy.withUnsafeValues { dy in
                for n in 0..<batch {
                    for c in 0..<channels {
                        let plane = (n * channels + c) * spatial ..< (n * channels + c + 1) * spatial
                        let m = SIMD8<Double>(repeating: meanValues[c])
                        let (sum, product) = sums8(UnsafeBufferPointer(rebasing: dy[plane]),
                                                   UnsafeBufferPointer(rebasing: x[plane])) { g, x in (g, g * (x - m)) }
                        local[c] += sum
                        local[channels + c] += product * inverseDeviation[c]
                    }
                }
            }
        }
        var global = local
        try global.withUnsafeMutableBufferPointer { try crossRankSum($0) }
        let inputGradient = Tensor(desc: try .plain(dims))
        plainInput.withUnsafeValues { x in
            dy.withUnsafeValues { dy in
                inputGradient.withUnsafeMutableValues { dx in
                    for c in 0..<channels {
                        // dx = k dy - k mean(dy) - (x - mean) k s mean(dy x-hat), elementwise in float32.
                        let s = inverseDeviation[c], k = Double(scale[c]) * s
                        let m = Float(meanValues[c]), gain = Float(k), offset = Float(k * global[c] / count)
                        let slope = Float(k * s * global[channels + c] / count)
                        for n in 0..<batch {
                            let start = (n * channels + c) * spatial
                            for i in start..<start + spatial { dx[i] = gain * dy[i] - offset - (x[i] - m) * slope }
                        }
                    }
                }
            }
        }
        let diffSrc = shape.count == 2 ? try Tensor(desc: .plain(shape), storage: inputGradient.storage)
                                       : try inputGradient.reordered(to: dataDesc)
        var gradients: [Tensor?] = [diffSrc]
        if weight != nil { gradients.append(Tensor(shape: [channels], values: (0..<channels).map { Float(local[channels + $0]) })) }
        if bias != nil { gradients.append(Tensor(shape: [channels], values: (0..<channels).map { Float(local[$0]) })) }
        return gradients
    }
}

/// The sums over i of f(a[i], b[i])'s two parts, in Double, eight lanes at a time (one Double accumulator
/// would wait on each add's latency). a and b have the same count.
@inline(__always)
private func sums8(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>,
                   _ f: (SIMD8<Double>, SIMD8<Double>) -> (SIMD8<Double>, SIMD8<Double>)) -> (Double, Double) {
    let count = a.count
    var first = SIMD8<Double>(), second = SIMD8<Double>()
    var index = 0
    if let pa = a.baseAddress.map(UnsafeRawPointer.init), let pb = b.baseAddress.map(UnsafeRawPointer.init) {
        while index + 8 <= count {
            let (x, y) = f(SIMD8<Double>(pa.loadUnaligned(fromByteOffset: 4 * index, as: SIMD8<Float>.self)),
                           SIMD8<Double>(pb.loadUnaligned(fromByteOffset: 4 * index, as: SIMD8<Float>.self)))
            first += x
            second += y
            index += 8
        }
    }
    var tailA = SIMD8<Double>(), tailB = SIMD8<Double>(), lanes = SIMD8<Double>()
    for lane in 0..<(count - index) {
        tailA[lane] = Double(a[index + lane])
        tailB[lane] = Double(b[index + lane])
        lanes[lane] = 1
    }
    let (x, y) = f(tailA, tailB)
    return ((first + x * lanes).sum(), (second + y * lanes).sum())
}
