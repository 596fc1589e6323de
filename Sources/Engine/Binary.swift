// Elementwise arithmetic between tensors on oneDNN's binary primitive. The right operand may broadcast
// (each of its dimensions equals the left one's or is 1); its gradient is then summed back with oneDNN's
// reduction primitive.
import CDNNL

/// Runs a binary primitive `a op b` (b broadcast to a's shape); not recorded. The result takes a's layout.
func binary(_ algorithm: dnnl_alg_kind_t, _ a: Tensor, _ b: Tensor, _ name: String) throws -> Tensor {
    guard a.shape.count == b.shape.count,
          zip(a.shape, b.shape).allSatisfy({ $0 == $1 || $1 == 1 }) else {
        throw EngineError.invalidArgument(
            operation: name, detail: "shapes \(a.shape) and \(b.shape) do not broadcast (the right one may have 1s)")
    }
    let right = a.shape == b.shape ? try b.reordered(to: a.desc) : try b.reordered(to: .plain(b.shape))
    let leftDesc = a.desc, rightDesc = right.desc
    let detail = "\(name) \(leftDesc) with \(rightDesc)"
    let primitive = try PrimitiveCache.shared.primitive("binary|\(algorithm.rawValue)|\(leftDesc)|\(rightDesc)") {
        var desc = dnnl_binary_desc_t()
        var src0 = leftDesc.raw, src1 = rightDesc.raw, dst = leftDesc.raw
        try check(dnnl_binary_desc_init(&desc, algorithm, &src0, &src1, &dst), "binary_desc_init", detail)
        return try Primitive(PrimitiveDesc(&desc, "binary", detail), name: detail)
    }
    let output = Tensor(desc: leftDesc)
    try primitive.execute([(Arg.src, a.memory()), (Arg.src1, right.memory()), (Arg.dst, output.memory())])
    return output
}

/// Sums `gradient` over the dimensions where `shape` has 1s (undoing a broadcast); not recorded.
func sumToShape(_ gradient: Tensor, _ shape: [Int]) throws -> Tensor {
    if gradient.shape == shape { return gradient }
    let sourceDesc = gradient.desc
    let targetDesc = try MemoryDesc.plain(shape)
    let detail = "sum \(sourceDesc) to \(shape)"
    let primitive = try PrimitiveCache.shared.primitive("reduce.sum|\(sourceDesc)|\(targetDesc)") {
        var desc = dnnl_reduction_desc_t()
        var src = sourceDesc.raw, dst = targetDesc.raw
        try check(dnnl_reduction_desc_init(&desc, dnnl_reduction_sum, &src, &dst, 0, 0), "reduction_desc_init", detail)
        return try Primitive(PrimitiveDesc(&desc, "reduction", detail), name: detail)
    }
    let output = Tensor(desc: targetDesc)
    try primitive.execute([(Arg.src, gradient.memory()), (Arg.dst, output.memory())])
    return output
}

/// a + b (b may broadcast). Same-shape operands are added in a's layout (residual connections).
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let output = try binary(dnnl_binary_add, a, b, "add")
    let bShape = b.shape, bNeedsGrad = b.requiresGrad
    return Tensor.record(output, "add", [a, b]) { gradient in
        [gradient, bNeedsGrad ? try sumToShape(gradient, bShape) : nil]
    }
}

/// a - b (b may broadcast).
public func subtract(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let output = try binary(dnnl_binary_sub, a, b, "subtract")
    let bShape = b.shape, bNeedsGrad = b.requiresGrad
    return Tensor.record(output, "subtract", [a, b]) { gradient in
        [gradient, bNeedsGrad ? try sumToShape(gradient.scaledRaw(-1), bShape) : nil]
    }
}

/// a * b elementwise (b may broadcast).
public func multiply(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let output = try binary(dnnl_binary_mul, a, b, "multiply")
    let bShape = b.shape, aNeedsGrad = a.requiresGrad, bNeedsGrad = b.requiresGrad
    // Each operand's gradient needs the other operand's value only.
    let aValue = bNeedsGrad ? a : nil, bValue = aNeedsGrad ? b : nil
    return Tensor.record(output, "multiply", [a, b]) { gradient in
        [aNeedsGrad ? try binary(dnnl_binary_mul, gradient, bValue!, "multiply backward") : nil,
         bNeedsGrad ? try sumToShape(binary(dnnl_binary_mul, gradient, aValue!, "multiply backward"), bShape) : nil]
    }
}

/// a / b elementwise (b may broadcast).
public func divide(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let output = try binary(dnnl_binary_div, a, b, "divide")
    let bShape = b.shape, aNeedsGrad = a.requiresGrad, bNeedsGrad = b.requiresGrad
    return Tensor.record(output, "divide", [a, b]) { gradient in
        // d(a/b)/db = -a / b^2 = -(a/b) / b
        [aNeedsGrad ? try binary(dnnl_binary_div, gradient, b, "divide backward") : nil,
         bNeedsGrad ? try sumToShape(
            binary(dnnl_binary_div, binary(dnnl_binary_mul, gradient, output, "divide backward"), b, "divide backward")
                .scaledRaw(-1), bShape) : nil]
    }
}

public func + (a: Tensor, b: Tensor) throws -> Tensor { try add(a, b) }
public func - (a: Tensor, b: Tensor) throws -> Tensor { try subtract(a, b) }
public func * (a: Tensor, b: Tensor) throws -> Tensor { try multiply(a, b) }
public func / (a: Tensor, b: Tensor) throws -> Tensor { try divide(a, b) }

extension Tensor {
    /// The sum of all elements, shape [1] (torch.sum(x).reshape(1)).
    public func sum() throws -> Tensor {
        let output = try sumToShape(self, Array(repeating: 1, count: shape.count)).reshapedRaw([1])
        let fullShape = shape
        return Tensor.record(output, "sum", [self]) { gradient in
            // d sum / dx = 1 everywhere: the scalar gradient broadcast (plain float32, whatever x's type).
            [Tensor(shape: fullShape, repeating: try gradient.values()[0])]
        }
    }
}
