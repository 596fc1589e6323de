// Unary elementwise ops on oneDNN's eltwise primitive (forward and backward), in the input's layout.
import CDNNL

/// Runs eltwise `algorithm` (alpha, beta as oneDNN defines them) on `x`; not recorded.
func eltwiseRaw(_ algorithm: dnnl_alg_kind_t, _ x: Tensor, alpha: Float = 0, beta: Float = 0,
                _ name: String) throws -> Tensor {
    let dataDesc = x.desc
    let detail = "\(name) \(dataDesc)"
    let primitive = try PrimitiveCache.shared.primitive("eltwise|\(algorithm.rawValue)|\(alpha)|\(beta)|\(dataDesc)") {
        var desc = dnnl_eltwise_desc_t()
        var data = dataDesc.raw
        try check(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_training, algorithm, &data, alpha, beta),
                  "eltwise_forward_desc_init", detail)
        return try Primitive(PrimitiveDesc(&desc, "eltwise", detail), name: detail)
    }
    let output = Tensor(desc: dataDesc)
    try primitive.execute([(Arg.src, x.memory()), (Arg.dst, output.memory())])
    return output
}

/// The gradient of eltwise `algorithm` at `x` (or at its output for *_use_dst_for_bwd) times `gradient`.
func eltwiseBackward(_ algorithm: dnnl_alg_kind_t, _ data: Tensor, _ gradient: Tensor, alpha: Float = 0,
                     beta: Float = 0, _ name: String) throws -> Tensor {
    let dataDesc = data.desc
    let detail = "\(name) backward \(dataDesc)"
    let key = "eltwise.bwd|\(algorithm.rawValue)|\(alpha)|\(beta)|\(dataDesc)"
    let primitive = try PrimitiveCache.shared.primitive(key) {
        var forwardDesc = dnnl_eltwise_desc_t()
        var md = dataDesc.raw
        try check(dnnl_eltwise_forward_desc_init(&forwardDesc, dnnl_forward_training, algorithm, &md, alpha, beta),
                  "eltwise_forward_desc_init", detail)
        let hint = try PrimitiveDesc(&forwardDesc, "eltwise", detail)
        var desc = dnnl_eltwise_desc_t()
        var diff = dataDesc.raw
        try check(dnnl_eltwise_backward_desc_init(&desc, algorithm, &diff, &md, alpha, beta),
                  "eltwise_backward_desc_init", detail)
        return try Primitive(PrimitiveDesc(&desc, hint: hint, "eltwise backward", detail), name: detail)
    }
    let diffDst = try gradient.reordered(to: dataDesc)
    let diffSrc = Tensor(desc: dataDesc)
    let usesDst = [dnnl_eltwise_exp_use_dst_for_bwd, dnnl_eltwise_sqrt_use_dst_for_bwd].contains(algorithm)
    try primitive.execute([(usesDst ? Arg.dst : Arg.src, data.memory()), (Arg.diffDst, diffDst.memory()),
                           (Arg.diffSrc, diffSrc.memory())])
    return diffSrc
}

extension Tensor {
    /// alpha * self + beta, not recorded (used inside derivatives).
    func scaledRaw(_ alpha: Float, plus beta: Float = 0) throws -> Tensor {
        try eltwiseRaw(dnnl_eltwise_linear, self, alpha: alpha, beta: beta, "linear")
    }

    /// self * factor + offset elementwise (torch: x * factor + offset).
    public func scaled(by factor: Float, plus offset: Float = 0) throws -> Tensor {
        let output = try scaledRaw(factor, plus: offset)
        return Tensor.record(output, "scaled", [self]) { gradient in [try gradient.scaledRaw(factor)] }
    }

    /// e^x elementwise.
    public func exp() throws -> Tensor {
        let output = try eltwiseRaw(dnnl_eltwise_exp_use_dst_for_bwd, self, "exp")
        return Tensor.record(output, "exp", [self]) { gradient in
            [try eltwiseBackward(dnnl_eltwise_exp_use_dst_for_bwd, output, gradient, "exp")]
        }
    }

    /// Natural logarithm elementwise.
    public func log() throws -> Tensor {
        let output = try eltwiseRaw(dnnl_eltwise_log, self, "log")
        return Tensor.record(output, "log", [self]) { gradient in
            [try eltwiseBackward(dnnl_eltwise_log, self, gradient, "log")]
        }
    }

    /// Square root elementwise.
    public func sqrt() throws -> Tensor {
        let output = try eltwiseRaw(dnnl_eltwise_sqrt_use_dst_for_bwd, self, "sqrt")
        return Tensor.record(output, "sqrt", [self]) { gradient in
            [try eltwiseBackward(dnnl_eltwise_sqrt_use_dst_for_bwd, output, gradient, "sqrt")]
        }
    }

    /// x^2 elementwise.
    public func square() throws -> Tensor {
        let output = try eltwiseRaw(dnnl_eltwise_square, self, "square")
        return Tensor.record(output, "square", [self]) { gradient in
            [try eltwiseBackward(dnnl_eltwise_square, self, gradient, "square")]
        }
    }

    /// max(x, 0) elementwise.
    public func relu() throws -> Tensor {
        let output = try eltwiseRaw(dnnl_eltwise_relu, self, "relu")
        return Tensor.record(output, "relu", [self]) { gradient in
            [try eltwiseBackward(dnnl_eltwise_relu, self, gradient, "relu")]
        }
    }
}
