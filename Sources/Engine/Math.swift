// Ops for the head and the margin losses, on plain tensors: row normalisation, clamp, acos/cos,
// log-softmax, cross-entropy, gathers and scatters, means. Sizes here are [batch, classes] at most, so
// tight loops over contiguous buffers do; each op's derivative sits next to its forward loop.
import CDNNL
import Foundation

/// Runs `body` on the float buffers of `tensors` (each whole physical buffer). The tensors are
/// arguments of this call, so their buffers stay alive while `body` runs; derivatives capture tensors,
/// never raw pointers, because an unreferenced tensor returns its buffer to the pool.
func withFloats<R>(_ tensors: [Tensor], _ body: ([UnsafeMutableBufferPointer<Float>]) throws -> R) rethrows -> R {
    try body(tensors.map { $0.storage.floats($0.desc.byteCount / 4) })
}

extension Tensor {
    /// Applies `forward` to every element of a plain copy; the derivative maps (x, y, upstream) to the
    /// input's gradient.
    private func mapElements(_ name: String, _ forward: @escaping (Float) -> Float,
                             derivative: @escaping (Float, Float, Float) -> Float) throws -> Tensor {
        let x = try plainRaw()
        let output = try Tensor(desc: .plain(shape))
        let n = count
        withFloats([x, output]) { b in for i in 0..<n { b[1][i] = forward(b[0][i]) } }
        return Tensor.record(output, name, [self]) { gradient in
            let result = try Tensor(desc: .plain(x.shape))
            try withFloats([x, output, gradient.plainRaw(), result]) { b in
                for i in 0..<n { b[3][i] = derivative(b[0][i], b[1][i], b[2][i]) }
            }
            return [result]
        }
    }

    /// min(max(x, lower), upper) elementwise; the gradient passes where lower <= x <= upper (torch.clamp).
    public func clamped(min lower: Float, max upper: Float) throws -> Tensor {
        try mapElements("clamp", { Swift.min(Swift.max($0, lower), upper) },
                        derivative: { x, _, g in (x >= lower && x <= upper) ? g : 0 })
    }

    /// arccos elementwise (radians); d/dx = -1 / sqrt(1 - x^2) (infinite at |x| = 1, as torch).
    public func acos() throws -> Tensor {
        try mapElements("acos", { Foundation.acos($0) }, derivative: { x, _, g in -g / (1 - x * x).squareRoot() })
    }

    /// cos elementwise; d/dx = -sin x.
    public func cos() throws -> Tensor {
        try mapElements("cos", { Foundation.cos($0) }, derivative: { x, _, g in -g * Foundation.sin(x) })
    }

    /// -x.
    public func negated() throws -> Tensor { try scaled(by: -1) }

    /// Each row divided by max(its L2 norm, epsilon), as torch.nn.functional.normalize(x, dim=1).
    /// x: [N, D].
    public func normalizedRows(epsilon: Float = 1e-12) throws -> Tensor {
        guard shape.count == 2 else {
            throw EngineError.invalidArgument(operation: "normalizedRows", detail: "needs [N, D], got \(shape)")
        }
        let rows = shape[0], width = shape[1]
        let x = try plainRaw()
        let output = try Tensor(desc: .plain(shape))
        var norms = [Float](repeating: 0, count: rows)
        withFloats([x, output]) { b in
            let (source, target) = (b[0], b[1])
            for r in 0..<rows {
                var squares: Float = 0
                for c in 0..<width { squares += source[r * width + c] * source[r * width + c] }
                norms[r] = Swift.max(squares.squareRoot(), epsilon)
                for c in 0..<width { target[r * width + c] = source[r * width + c] / norms[r] }
            }
        }
        let rowNorms = norms
        return Tensor.record(output, "normalizedRows", [self]) { gradient in
            // y = x / n with n = |x|: dx = (g - y (g . y)) / n; below epsilon n is constant: dx = g / eps.
            let result = try Tensor(desc: .plain([rows, width]))
            try withFloats([output, gradient.plainRaw(), result]) { b in
                let (y, g, r) = (b[0], b[1], b[2])
                for row in 0..<rows {
                    let base = row * width
                    var dot: Float = 0
                    if rowNorms[row] > epsilon { for c in 0..<width { dot += g[base + c] * y[base + c] } }
                    for c in 0..<width { r[base + c] = (g[base + c] - y[base + c] * dot) / rowNorms[row] }
                }
            }
            return [result]
        }
    }

    /// log(softmax(x)) along the last dimension of [N, C], computed stably (max subtracted).
    public func logSoftmax() throws -> Tensor {
        guard shape.count == 2 else {
            throw EngineError.invalidArgument(operation: "logSoftmax", detail: "needs [N, C], got \(shape)")
        }
        let rows = shape[0], width = shape[1]
        let x = try plainRaw()
        let output = try Tensor(desc: .plain(shape))
        withFloats([x, output]) { b in
            let (source, target) = (b[0], b[1])
            for row in 0..<rows {
                let base = row * width
                var largest = -Float.infinity
                for c in 0..<width { largest = Swift.max(largest, source[base + c]) }
                var total: Float = 0
                for c in 0..<width { total += Foundation.exp(source[base + c] - largest) }
                let logTotal = largest + Foundation.log(total)
                for c in 0..<width { target[base + c] = source[base + c] - logTotal }
            }
        }
        return Tensor.record(output, "logSoftmax", [self]) { gradient in
            // dx = g - softmax * sum(g) per row
            let result = try Tensor(desc: .plain([rows, width]))
            try withFloats([output, gradient.plainRaw(), result]) { b in
                let (y, g, r) = (b[0], b[1], b[2])
                for row in 0..<rows {
                    let base = row * width
                    var total: Float = 0
                    for c in 0..<width { total += g[base + c] }
                    for c in 0..<width { r[base + c] = g[base + c] - Foundation.exp(y[base + c]) * total }
                }
            }
            return [result]
        }
    }

    /// Picks x[i, columns[i]] from [N, C] into [N]. A column of -1 gives 0 and no gradient (a sample
    /// whose class is not among the logits, as Partial FC's label -1).
    public func gather(columns: [Int]) throws -> Tensor {
        guard shape.count == 2, columns.count == shape[0], columns.allSatisfy({ $0 >= -1 && $0 < shape[1] }) else {
            throw EngineError.invalidArgument(
                operation: "gather", detail: "needs [N, C] and N columns in -1..<C; shape \(shape), \(columns.count) columns")
        }
        let rows = shape[0], width = shape[1]
        let output = try Tensor(desc: .plain([rows]))
        try withFloats([plainRaw(), output]) { b in
            for r in 0..<rows { b[1][r] = columns[r] < 0 ? 0 : b[0][r * width + columns[r]] }
        }
        return Tensor.record(output, "gather", [self]) { gradient in
            let result = Tensor.zeros([rows, width])
            try withFloats([gradient.plainRaw(), result]) { b in
                for r in 0..<rows where columns[r] >= 0 { b[1][r * width + columns[r]] = b[0][r] }
            }
            return [result]
        }
    }

    /// A copy of [N, C] with element [i, columns[i]] replaced by values[i] (torch.scatter on dim 1);
    /// rows with column -1 are left unchanged. Gradients: x gets the upstream gradient with the replaced
    /// elements zeroed; values[i] gets the upstream gradient at [i, columns[i]].
    public func scatter(columns: [Int], values: Tensor) throws -> Tensor {
        guard shape.count == 2, columns.count == shape[0], values.shape == [shape[0]],
              columns.allSatisfy({ $0 >= -1 && $0 < shape[1] }) else {
            throw EngineError.invalidArgument(
                operation: "scatter", detail: "needs [N, C], N columns in -1..<C and values [N]; shape \(shape), values \(values.shape)")
        }
        let rows = shape[0], width = shape[1]
        let output = try copy(plainRaw())
        try withFloats([values.plainRaw(), output]) { b in
            for r in 0..<rows where columns[r] >= 0 { b[1][r * width + columns[r]] = b[0][r] }
        }
        return Tensor.record(output, "scatter", [self, values]) { gradient in
            let dx = try copy(gradient.plainRaw())
            let dv = Tensor.zeros([rows])
            withFloats([dx, dv]) { b in
                for r in 0..<rows where columns[r] >= 0 {
                    b[1][r] = b[0][r * width + columns[r]]
                    b[0][r * width + columns[r]] = 0
                }
            }
            return [dx, dv]
        }
    }

    /// Rows `indices` of [N, D] into [K, D] (torch: x[indices]); the gradient adds back into those rows
    /// (a row picked twice gets both gradients).
    public func gatherRows(_ indices: [Int]) throws -> Tensor {
        guard shape.count == 2, indices.allSatisfy({ $0 >= 0 && $0 < shape[0] }) else {
            throw EngineError.invalidArgument(operation: "gatherRows", detail: "needs [N, D] and indices in 0..<N; shape \(shape)")
        }
        let rows = shape[0], width = shape[1], picked = indices.count
        let output = try Tensor(desc: .plain([picked, width]))
        try withFloats([plainRaw(), output]) { b in
            for (k, row) in indices.enumerated() {
                _ = UnsafeMutableBufferPointer(rebasing: b[1][(k * width)..<((k + 1) * width)])
                    .update(fromContentsOf: b[0][(row * width)..<((row + 1) * width)])
            }
        }
        return Tensor.record(output, "gatherRows", [self]) { gradient in
            let result = Tensor.zeros([rows, width])
            try withFloats([gradient.plainRaw(), result]) { b in
                for (k, row) in indices.enumerated() {
                    for c in 0..<width { b[1][row * width + c] += b[0][k * width + c] }
                }
            }
            return [result]
        }
    }

    /// A copy of [N, D] with rows `indices` replaced by the rows of `rows` [K, D] (torch:
    /// y = x.clone(); y[indices] = rows; indices distinct). Gradients: x gets the upstream gradient with
    /// those rows zeroed, `rows` gets the upstream gradient's rows `indices`.
    public func scatterRows(_ indices: [Int], _ rows: Tensor) throws -> Tensor {
        guard shape.count == 2, rows.shape == [indices.count, shape[1]],
              indices.allSatisfy({ $0 >= 0 && $0 < shape[0] }), Set(indices).count == indices.count else {
            throw EngineError.invalidArgument(
                operation: "scatterRows",
                detail: "needs [N, D], distinct indices in 0..<N and rows [K, D]; shape \(shape), \(indices.count) indices, rows \(rows.shape)")
        }
        let width = shape[1]
        let output = try copy(plainRaw())
        try withFloats([rows.plainRaw(), output]) { b in
            for (k, row) in indices.enumerated() {
                for c in 0..<width { b[1][row * width + c] = b[0][k * width + c] }
            }
        }
        return Tensor.record(output, "scatterRows", [self, rows]) { gradient in
            let dx = try copy(gradient.plainRaw())
            let drows = try Tensor(desc: .plain([indices.count, width]))
            withFloats([dx, drows]) { b in
                for (k, row) in indices.enumerated() {
                    for c in 0..<width {
                        b[1][k * width + c] = b[0][row * width + c]
                        b[0][row * width + c] = 0
                    }
                }
            }
            return [dx, drows]
        }
    }

    /// The mean of all elements, shape [1].
    public func mean() throws -> Tensor { try sum().scaled(by: 1 / Float(count)) }

    /// The sum over dimension `axis`, which is removed (torch.sum(x, dim=axis)).
    public func sum(axis: Int) throws -> Tensor {
        guard axis >= 0 && axis < shape.count else {
            throw EngineError.invalidArgument(operation: "sum(axis:)", detail: "axis \(axis) out of range for \(shape)")
        }
        var kept = shape
        kept[axis] = 1
        var reduced = shape
        reduced.remove(at: axis)
        if reduced.isEmpty { reduced = [1] }
        let output = try sumToShape(self, kept).reshapedRaw(reduced)
        let fullShape = shape
        return Tensor.record(output, "sum(axis:)", [self]) { gradient in
            // Broadcast the gradient back along `axis`.
            let g = try gradient.reshapedRaw(kept)
            return [try binary(dnnl_binary_add, Tensor.zeros(fullShape), g, "sum backward")]
        }
    }
}

/// Mean cross-entropy of logits [N, C] against class `labels` (torch.nn.functional.cross_entropy),
/// shape [1]: -mean_i log_softmax(x)[i, labels[i]].
public func crossEntropy(_ logits: Tensor, labels: [Int]) throws -> Tensor {
    guard logits.shape.count == 2, labels.count == logits.shape[0],
          labels.allSatisfy({ $0 >= 0 && $0 < logits.shape[1] }) else {
        throw EngineError.invalidArgument(
            operation: "crossEntropy", detail: "needs logits [N, C] and N labels in 0..<C; logits \(logits.shape), \(labels.count) labels")
    }
    return try logits.logSoftmax().gather(columns: labels).mean().negated()
}
