// PReLU with one slope per channel on oneDNN's prelu primitive (forward and backward), in the input's layout.
import CDNNL

/// y = x if x > 0 else weight[c] * x, per channel c (dimension 1), as torch.nn.PReLU(C).
/// - input: [N, C, ...] in any layout; weight: [C]. The output keeps the input's layout.
public func prelu(_ input: Tensor, weight: Tensor) throws -> Tensor {
    let shape = input.shape
    guard shape.count >= 2, weight.shape == [shape[1]] else {
        throw EngineError.invalidArgument(operation: "prelu", detail: "weight \(weight.shape) does not fit input \(shape)")
    }
    // oneDNN broadcasts weights given with the data's rank: [1, C, 1, 1].
    let weightDims = [1, shape[1]] + Array(repeating: 1, count: shape.count - 2)
    let dataDesc = input.desc
    let detail = "input \(shape) layout \(dataDesc)"
    let training = input.requiresGrad || weight.requiresGrad
    let propKind = training ? dnnl_forward_training : dnnl_forward_inference
    let forward = try PrimitiveCache.shared.primitive("prelu.fwd|\(propKind.rawValue)|\(dataDesc)") {
        var desc = dnnl_prelu_desc_t()
        var data = dataDesc.raw, weights = try MemoryDesc.any(weightDims).raw
        try check(dnnl_prelu_forward_desc_init(&desc, propKind, &data, &weights), "prelu_forward_desc_init", detail)
        return try Primitive(PrimitiveDesc(&desc, "prelu forward", detail), name: "prelu fwd \(detail)")
    }
    let pd = forward.desc
    let plainWeight = try Tensor(desc: .plain(weightDims), storage: weight.storage)
    let weights = try plainWeight.reordered(to: pd.md(dnnl_query_weights_md))
    let output = Tensor(desc: dataDesc)
    try forward.execute([(Arg.src, input.memory()), (Arg.weights, weights.memory()), (Arg.dst, output.memory())])

    return Tensor.record(output, "prelu", [input, weight]) { gradient in
        let backward = try PrimitiveCache.shared.primitive("prelu.bwd|\(dataDesc)") {
            var desc = dnnl_prelu_desc_t()
            var data = dataDesc.raw, diffData = dataDesc.raw
            var weightsMd = try MemoryDesc.any(weightDims).raw, diffWeights = try MemoryDesc.any(weightDims).raw
            try check(dnnl_prelu_backward_desc_init(&desc, &data, &weightsMd, &diffData, &diffWeights),
                      "prelu_backward_desc_init", detail)
            return try Primitive(PrimitiveDesc(&desc, hint: pd, "prelu backward", detail), name: "prelu bwd \(detail)")
        }
        let bpd = backward.desc
        let diffDst = try gradient.reordered(to: dataDesc)
        let bweights = try plainWeight.reordered(to: bpd.md(dnnl_query_weights_md))
        let diffSrc = Tensor(desc: dataDesc)
        let diffWeights = Tensor(desc: bpd.md(dnnl_query_diff_weights_md))
        try backward.execute([(Arg.src, input.memory()), (Arg.weights, bweights.memory()),
                              (Arg.diffDst, diffDst.memory()), (Arg.diffSrc, diffSrc.memory()),
                              (Arg.diffWeights, diffWeights.memory())])
        let plain = try diffWeights.reordered(to: .plain(weightDims))
        return [diffSrc, try Tensor(desc: .plain(weight.shape), storage: plain.storage)]
    }
}
