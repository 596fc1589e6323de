// Fully connected layers and matrix products on dnnl_sgemm (row-major), on plain [rows, columns] data.
import CDNNL

/// C[m, n] = alpha * op(A) * op(B) + beta * C, row-major, through dnnl_sgemm.
/// The tensors are plain; as arguments of this call they stay alive while sgemm reads and writes them.
func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
           _ left: Tensor, _ right: Tensor, _ result: Tensor, beta: Float = 0, _ name: String) throws {
    precondition(left.isPlain && right.isPlain && result.isPlain)
    let a = left.floatPointer, b = right.floatPointer, c = result.floatPointer
    let lda = transposeA ? m : k, ldb = transposeB ? k : n
    try check(dnnl_sgemm(CChar(UInt8(ascii: transposeA ? "T" : "N")), CChar(UInt8(ascii: transposeB ? "T" : "N")),
                         Int64(m), Int64(n), Int64(k), 1, a, Int64(lda), b, Int64(ldb), beta, c, Int64(n)),
              "sgemm", "\(name): m \(m) n \(n) k \(k) transposeA \(transposeA) transposeB \(transposeB)")
}

extension Tensor {
    var floatPointer: UnsafeMutablePointer<Float> { storage.pointer.assumingMemoryBound(to: Float.self) }

    /// A plain float32 version of this tensor's data (self when already so); not recorded. The ops that
    /// run on plain data (linear, matmul, the head and loss ops) compute in float32 whatever their input.
    func plainRaw() throws -> Tensor { try reordered(to: .plain(shape)) }
}

/// Matrix product of [M, K] and [K, N] (or [N, K] with transposeB: a * b^T) into [M, N], as torch.matmul.
public func matmul(_ a: Tensor, _ b: Tensor, transposeB: Bool = false) throws -> Tensor {
    guard a.shape.count == 2, b.shape.count == 2,
          a.shape[1] == (transposeB ? b.shape[1] : b.shape[0]) else {
        throw EngineError.invalidArgument(operation: "matmul",
                                          detail: "shapes \(a.shape) and \(b.shape)\(transposeB ? "^T" : "") do not multiply")
    }
    let m = a.shape[0], k = a.shape[1], n = transposeB ? b.shape[0] : b.shape[1]
    let left = try a.plainRaw(), right = try b.plainRaw()
    let output = try Tensor(desc: .plain([m, n]))
    try sgemm(transposeA: false, transposeB: transposeB, m: m, n: n, k: k,
              left, right, output, "matmul")
    let aNeedsGrad = a.requiresGrad, bNeedsGrad = b.requiresGrad
    return Tensor.record(output, "matmul", [a, b]) { gradient in
        let g = try gradient.plainRaw()
        var gradA: Tensor?, gradB: Tensor?
        if aNeedsGrad {   // dA = g * op(B)^T
            gradA = try Tensor(desc: .plain([m, k]))
            try sgemm(transposeA: false, transposeB: !transposeB, m: m, n: k, k: n,
                      g, right, gradA!, "matmul backward")
        }
        if bNeedsGrad {
            if transposeB {   // dB [n, k] = g^T * A
                gradB = try Tensor(desc: .plain([n, k]))
                try sgemm(transposeA: true, transposeB: false, m: n, n: k, k: m,
                          g, left, gradB!, "matmul backward")
            } else {          // dB [k, n] = A^T * g
                gradB = try Tensor(desc: .plain([k, n]))
                try sgemm(transposeA: true, transposeB: false, m: k, n: n, k: m,
                          left, g, gradB!, "matmul backward")
            }
        }
        return [gradA, gradB]
    }
}

/// y = x * weight^T + bias, as torch.nn.functional.linear.
/// - input: [N, in]; weight: [out, in]; bias: [out] or nil. Returns [N, out] (plain).
public func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
    guard input.shape.count == 2, weight.shape.count == 2, input.shape[1] == weight.shape[1],
          bias == nil || bias!.shape == [weight.shape[0]] else {
        throw EngineError.invalidArgument(
            operation: "linear", detail: "input \(input.shape), weight \(weight.shape), bias \(bias?.shape ?? []) do not fit")
    }
    let rows = input.shape[0], inFeatures = input.shape[1], outFeatures = weight.shape[0]
    let x = try input.plainRaw(), w = try weight.plainRaw()
    let output = try Tensor(desc: .plain([rows, outFeatures]))
    if let bias {   // start from the bias in every row, then accumulate the product (beta 1)
        try withFloats([bias.plainRaw(), output]) { buffers in
            for row in 0..<rows {
                _ = UnsafeMutableBufferPointer(rebasing: buffers[1][(row * outFeatures)..<((row + 1) * outFeatures)])
                    .update(fromContentsOf: buffers[0][0..<outFeatures])
            }
        }
    }
    try sgemm(transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures,
              x, w, output, beta: bias == nil ? 0 : 1, "linear")
    let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
    let inputNeedsGrad = input.requiresGrad, weightNeedsGrad = weight.requiresGrad
    let hasBias = bias != nil, biasNeedsGrad = bias?.requiresGrad ?? false
    return Tensor.record(output, "linear", inputs) { gradient in
        let g = try gradient.plainRaw()
        var gradInput: Tensor?, gradWeight: Tensor?, gradBias: Tensor?
        if inputNeedsGrad {   // dx [N, in] = g [N, out] * W [out, in]
            gradInput = try Tensor(desc: .plain([rows, inFeatures]))
            try sgemm(transposeA: false, transposeB: false, m: rows, n: inFeatures, k: outFeatures,
                      g, w, gradInput!, "linear backward data")
        }
        if weightNeedsGrad {  // dW [out, in] = g^T * x
            gradWeight = try Tensor(desc: .plain([outFeatures, inFeatures]))
            try sgemm(transposeA: true, transposeB: false, m: outFeatures, n: inFeatures, k: rows,
                      g, x, gradWeight!, "linear backward weights")
        }
        if biasNeedsGrad {
            gradBias = try sumToShape(g, [1, outFeatures]).reshapedRaw([outFeatures])
        }
        return hasBias ? [gradInput, gradWeight, gradBias] : [gradInput, gradWeight]
    }
}

extension Tensor {
    /// A plain view under another shape; not recorded.
    func reshapedRaw(_ newShape: [Int]) throws -> Tensor {
        precondition(newShape.reduce(1, *) == count)
        return try Tensor(desc: .plain(newShape, dtype.dnnl), storage: contiguousStorage())
    }
}
