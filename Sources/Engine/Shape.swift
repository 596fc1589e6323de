// Reshaping: views of plain (PyTorch-contiguous) data. A blocked activation is reordered to plain first,
// which is the one reorder at the edge between the convolutional trunk and the head.

extension Tensor {
    /// The same elements in PyTorch's contiguous order under a new shape (one dimension may be -1),
    /// as torch.reshape. Gradients flow back reshaped.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var target = newShape
        let known = newShape.filter { $0 != -1 }.reduce(1, *)
        if let inferred = newShape.firstIndex(of: -1), known > 0 {
            target[inferred] = count / known
        }
        guard target.reduce(1, *) == count, target.allSatisfy({ $0 > 0 }) else {
            throw EngineError.invalidArgument(operation: "reshape", detail: "cannot view \(shape) as \(newShape)")
        }
        let plain = try contiguousStorage()
        let result = try Tensor(desc: .plain(target, dtype.dnnl), storage: plain)
        let originalShape = shape
        return Tensor.record(result, "reshape", [self]) { gradient in
            let plainGradient = try gradient.contiguousStorage()
            return [try Tensor(desc: .plain(originalShape, gradient.dtype.dnnl), storage: plainGradient)]
        }
    }

    /// [N, d1, d2, ...] -> [N, d1*d2*...] in PyTorch's order (torch.flatten(x, 1)).
    public func flattened() throws -> Tensor {
        try reshaped([shape[0], count / shape[0]])
    }

    /// This tensor's values with element type `dtype` in the same layout (self when already so), as
    /// torch's x.to(dtype). Gradients convert back. Convolutions, batch norms, PReLU and adds compute in
    /// their input's type, so converting the images to .bfloat16 runs the trunk in bfloat16 (weights
    /// stay float32 and are converted per call; weight gradients are float32); linear, matmul and the
    /// head and loss ops always compute in float32.
    public func converted(to dtype: DType) throws -> Tensor {
        if dtype == self.dtype { return self }
        var target = desc
        target.raw.data_type = dtype.dnnl
        let output = try reordered(to: target)
        let originalDesc = desc
        return Tensor.record(output, "converted", [self]) { gradient in [try gradient.reordered(to: originalDesc)] }
    }

    /// A plain (PyTorch-contiguous) version of this tensor; self when already plain. Differentiable.
    public func contiguous() throws -> Tensor {
        if isPlain { return self }
        return try reshaped(shape)
    }
}
