// conv2d on oneDNN: forward, backward-data and backward-weights primitives, activations in the blocked
// layout the forward primitive prefers (format_tag any), weights kept plain (PyTorch's [out, in/g, kH, kW])
// and reordered for each primitive.
import CDNNL

/// How float32 3x3 stride-1 convolutions are computed. Every other convolution (strided, 1x1, grouped,
/// bfloat16) is always direct.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// oneDNN's Winograd F(4x4, 3x3) kernels where this CPU has them (AVX-512), else direct. About 1.5-2x
    /// faster than direct on IResNet's 3x3 layers at 112-28 px (`engine-bench` with and without `direct`); the
    /// results differ from direct convolution by rounding only (tested against PyTorch fixtures).
    case winograd
    /// Direct convolution, as PyTorch's CPU backend computes it.
    case direct

    /// The algorithm used by every convolution made from now on (primitives already made keep theirs).
    /// A process-wide choice, like torch.backends.cudnn settings; the default is `.winograd`.
    public nonisolated(unsafe) static var current: ConvolutionAlgorithm = .winograd
}

/// The shapes of one convolution, in oneDNN's terms.
private struct ConvGeometry: CustomStringConvertible {
    let input: [Int]          // [N, C, H, W]
    let weight: [Int]         // PyTorch [O, C/g, kH, kW]
    let output: [Int]         // [N, O, OH, OW]
    let weightDims: [Int]     // oneDNN: [O, C, kH, kW] or [g, O/g, C/g, kH, kW]
    let hasBias: Bool
    let stride: Int, padding: Int, groups: Int
    /// Element type of the activations and of the weights inside the primitive; weight and bias
    /// tensors (and their gradients) stay float32.
    let dataType: DType
    /// Winograd first (falling back to direct where oneDNN has no Winograd kernel), or direct only.
    let tryWinograd: Bool

    init(input: [Int], weight: [Int], hasBias: Bool, stride: Int, padding: Int, groups: Int, dataType: DType) throws {
        guard input.count == 4, weight.count == 4, groups >= 1, stride >= 1, padding >= 0,
              input[1] == weight[1] * groups, weight[0] % groups == 0 else {
            throw EngineError.invalidArgument(
                operation: "conv2d",
                detail: "input \(input), weight \(weight), groups \(groups), stride \(stride), padding \(padding) do not fit")
        }
        let outH = (input[2] + 2 * padding - weight[2]) / stride + 1
        let outW = (input[3] + 2 * padding - weight[3]) / stride + 1
        guard outH > 0, outW > 0 else {
            throw EngineError.invalidArgument(operation: "conv2d", detail: "input \(input) too small for kernel \(weight)")
        }
        self.input = input
        self.weight = weight
        output = [input[0], weight[0], outH, outW]
        weightDims = groups == 1 ? weight : [groups, weight[0] / groups] + weight[1...]
        self.hasBias = hasBias
        self.stride = stride
        self.padding = padding
        self.groups = groups
        self.dataType = dataType
        // Not the stem: with 3 input channels oneDNN's Winograd kernel is several times slower than direct.
        tryWinograd = ConvolutionAlgorithm.current == .winograd && dataType == .float32 && groups == 1
            && stride == 1 && weight[2] == 3 && weight[3] == 3 && input[1] % 16 == 0 && weight[0] % 16 == 0
    }

    var description: String {
        "input \(input) weight \(weight) stride \(stride) padding \(padding) groups \(groups)\(hasBias ? " bias" : "") \(dataType)\(tryWinograd ? " winograd" : "")"
    }

    var strides: [Int64] { [Int64(stride), Int64(stride)] }
    var paddings: [Int64] { [Int64(padding), Int64(padding)] }
    var biasDesc: MemoryDesc { get throws { hasBias ? try .plain([weight[0]]) : MemoryDesc(raw: dnnl_memory_desc_t()) } }

    /// Candidate activation layouts, tried in order until oneDNN offers a JIT kernel (not gemm, not ref):
    /// - forward: the layouts the forward primitive chose (backward passes then need no reorders);
    /// - blocked: nChw16c whenever the channels fill 16-blocks. With format_tag any, oneDNN picks nhwc
    ///   for some shapes (1x1 convolutions), which would force reorders against the 3x3 convolutions and
    ///   batch norms around them;
    /// - channelsLast: nhwc, where oneDNN 2.6 has JIT kernels for grouped convolutions with few channels
    ///   per group (MobileFaceNet's groups=64 over 128 channels: nChw16c only has the reference kernel)
    ///   and for the 7x7 depthwise backward-weights;
    /// - any: whatever oneDNN prefers.
    enum Layout { case forward, blocked, channelsLast, any }

    func activation(_ dims: [Int], _ layout: Layout, forward: MemoryDesc?) throws -> MemoryDesc {
        switch layout {
        case .forward: return forward!
        case .blocked: return dims[1] % 16 == 0 ? try MemoryDesc(dims, dataType.dnnl, dnnl_aBcd16b) : try .any(dims, dataType.dnnl)
        case .channelsLast: return try MemoryDesc(dims, dataType.dnnl, dnnl_acdb)
        case .any: return try .any(dims, dataType.dnnl)
        }
    }

    /// The algorithms to try, in order.
    var algorithms: [dnnl_alg_kind_t] { tryWinograd ? [dnnl_convolution_winograd, dnnl_convolution_direct] : [dnnl_convolution_direct] }

    /// The first (algorithm, layout) candidate, algorithms outermost, with a JIT kernel; else the best
    /// one found (gemm before ref).
    func choose(_ layouts: [Layout], _ make: (dnnl_alg_kind_t, Layout) throws -> PrimitiveDesc) throws -> PrimitiveDesc {
        func rank(_ implementation: String) -> Int {
            implementation.hasPrefix("ref") ? 0 : implementation.contains("gemm") ? 1 : 2
        }
        var best: (desc: PrimitiveDesc, rank: Int)?
        var lastError: Error?
        for algorithm in algorithms {
            for layout in layouts {
                do {
                    let desc = try make(algorithm, layout)
                    let score = rank(desc.implementation)
                    if score == 2 { return desc }
                    if best == nil || score > best!.rank { best = (desc, score) }
                } catch {
                    lastError = error
                }
            }
        }
        if let best { return best.desc }
        throw lastError!
    }

    func forward(training: Bool) throws -> Primitive {
        // Winograd for inference wants its weights in a transformed "wino" layout, and reordering plain
        // weights into it costs more than the convolution; the training kernel transforms them itself.
        let propKind = training || tryWinograd ? dnnl_forward_training : dnnl_forward_inference
        return try PrimitiveCache.shared.primitive("conv.fwd\(training ? ".train" : "")|\(self)") {
            // bfloat16 convolutions run on AMX/AVX512-BF16 brgemm kernels in nhwc; nChw16c only has
            // slower ones for bfloat16.
            let layouts: [Layout] = dataType == .float32 ? [.blocked, .channelsLast, .any] : [.channelsLast, .any, .blocked]
            let pd = try choose(layouts) { algorithm, layout in
                var src = try activation(input, layout, forward: nil).raw
                var weights = try MemoryDesc.any(weightDims, dataType.dnnl).raw
                var bias = try biasDesc.raw, dst = try activation(output, layout, forward: nil).raw
                var desc = dnnl_convolution_desc_t()
                try check(dnnl_convolution_forward_desc_init(
                    &desc, propKind, algorithm,
                    &src, &weights, &bias, &dst, strides, paddings, paddings), "convolution_forward_desc_init", "\(self)")
                return try PrimitiveDesc(&desc, "convolution forward", "\(self)")
            }
            return try Primitive(pd, name: "conv fwd \(self) \(pd.implementation)")
        }
    }

    func backwardData(hint: PrimitiveDesc) throws -> Primitive {
        try PrimitiveCache.shared.primitive("conv.bwd_data|\(self)") {
            let pd = try choose([.forward, .channelsLast, .any]) { algorithm, layout in
                var diffSrc = try activation(input, layout, forward: hint.md(dnnl_query_src_md)).raw
                var weights = try MemoryDesc.any(weightDims, dataType.dnnl).raw
                var diffDst = try activation(output, layout, forward: hint.md(dnnl_query_dst_md)).raw
                var desc = dnnl_convolution_desc_t()
                try check(dnnl_convolution_backward_data_desc_init(
                    &desc, algorithm, &diffSrc, &weights, &diffDst, strides, paddings, paddings),
                    "convolution_backward_data_desc_init", "\(self)")
                return try PrimitiveDesc(&desc, hint: hint, "convolution backward data", "\(self)")
            }
            return try Primitive(pd, name: "conv bwd data \(self) \(pd.implementation)")
        }
    }

    func backwardWeights(hint: PrimitiveDesc) throws -> Primitive {
        try PrimitiveCache.shared.primitive("conv.bwd_weights|\(self)") {
            let pd = try choose([.forward, .channelsLast, .any]) { algorithm, layout in
                var src = try activation(input, layout, forward: hint.md(dnnl_query_src_md)).raw
                var diffWeights = try MemoryDesc.any(weightDims).raw
                var diffBias = try biasDesc.raw
                var diffDst = try activation(output, layout, forward: hint.md(dnnl_query_dst_md)).raw
                var desc = dnnl_convolution_desc_t()
                try check(dnnl_convolution_backward_weights_desc_init(
                    &desc, algorithm, &src, &diffWeights, &diffBias, &diffDst, strides, paddings, paddings),
                    "convolution_backward_weights_desc_init", "\(self)")
                return try PrimitiveDesc(&desc, hint: hint, "convolution backward weights", "\(self)")
            }
            return try Primitive(pd, name: "conv bwd weights \(self) \(pd.implementation)")
        }
    }
}

/// 2-D convolution, as torch.nn.functional.conv2d with symmetric padding.
/// - input: [N, C, H, W] in any layout (plain images are reordered once, at the stem)
/// - weight: [O, C/groups, kH, kW] (plain, PyTorch's layout); bias: [O]
/// - returns [N, O, (H + 2p - kH)/s + 1, (W + 2p - kW)/s + 1] in the primitive's preferred layout.
/// Backward skips the data gradient when the input does not require grad (the stem).
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil,
                   stride: Int = 1, padding: Int = 0, groups: Int = 1) throws -> Tensor {
    let geometry = try ConvGeometry(input: input.shape, weight: weight.shape, hasBias: bias != nil,
                                    stride: stride, padding: padding, groups: groups, dataType: input.dtype)
    let training = input.requiresGrad || weight.requiresGrad || (bias?.requiresGrad ?? false)
    let forward = try geometry.forward(training: training)
    let pd = forward.desc
    let src = try input.reordered(to: pd.md(dnnl_query_src_md))
    let plainWeight = try Tensor(desc: MemoryDesc.plain(geometry.weightDims), storage: weight.storage)
    let weights = try plainWeight.reordered(to: pd.md(dnnl_query_weights_md))
    let output = Tensor(desc: pd.md(dnnl_query_dst_md))
    var args = [(Arg.src, try src.memory()), (Arg.weights, try weights.memory()), (Arg.dst, try output.memory())]
    if let bias { args.append((Arg.bias, try bias.reordered(to: .plain([geometry.weight[0]])).memory())) }
    try forward.execute(args)

    let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
    let inputNeedsGrad = input.requiresGrad
    let weightsNeedGrad = weight.requiresGrad || (bias?.requiresGrad ?? false)
    return Tensor.record(output, "conv2d", inputs) { gradient in
        var inputGradient: Tensor?
        if inputNeedsGrad {
            let backward = try geometry.backwardData(hint: pd)
            let bpd = backward.desc
            let diffDst = try gradient.reordered(to: bpd.md(dnnl_query_diff_dst_md))
            let bweights = try weights.reordered(to: bpd.md(dnnl_query_weights_md))
            let diffSrc = Tensor(desc: bpd.md(dnnl_query_diff_src_md))
            try backward.execute([(Arg.diffDst, diffDst.memory()), (Arg.weights, bweights.memory()),
                                  (Arg.diffSrc, diffSrc.memory())])
            inputGradient = diffSrc
        }
        var weightGradient: Tensor?, biasGradient: Tensor?
        if weightsNeedGrad {
            let backward = try geometry.backwardWeights(hint: pd)
            let bpd = backward.desc
            let diffDst = try gradient.reordered(to: bpd.md(dnnl_query_diff_dst_md))
            let bsrc = try src.reordered(to: bpd.md(dnnl_query_src_md))
            let diffWeights = Tensor(desc: bpd.md(dnnl_query_diff_weights_md))
            var args = [(Arg.diffDst, try diffDst.memory()), (Arg.src, try bsrc.memory()),
                        (Arg.diffWeights, try diffWeights.memory())]
            if geometry.hasBias {
                let diffBias = try Tensor(desc: .plain([geometry.weight[0]]))
                args.append((Arg.diffBias, try diffBias.memory()))
                biasGradient = diffBias
            }
            try backward.execute(args)
            let plain = try diffWeights.reordered(to: .plain(geometry.weightDims))
            weightGradient = try Tensor(desc: .plain(geometry.weight), storage: plain.storage)
        }
        return geometry.hasBias ? [inputGradient, weightGradient, biasGradient] : [inputGradient, weightGradient]
    }
}
