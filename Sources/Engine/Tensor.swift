// Tensors: a shape in PyTorch's dimension order, an element type, and a oneDNN layout over a buffer.
import CDNNL
import Foundation

/// Element type of a tensor. Only `.float32` has kernels today; `.bfloat16` is the next step.
public enum DType: Sendable, Equatable {
    case float32
    case bfloat16

    var dnnl: dnnl_data_type_t {
        switch self {
        case .float32: return dnnl_f32
        case .bfloat16: return dnnl_bf16
        }
    }

    /// Bytes per element.
    public var byteSize: Int { self == .float32 ? 4 : 2 }
}

/// An n-dimensional array. `shape` is in PyTorch's order (NCHW for images, [out, in] for linear weights)
/// whatever the physical layout: activations usually live in oneDNN's blocked layouts (nChw16c), which
/// `values()` hides by reordering to PyTorch's contiguous order.
///
/// Tensors are immutable values to autograd; only `Parameter` and `Buffer` (and the engine's own ops)
/// write into existing storage.
public final class Tensor {
    /// Dimensions in PyTorch order.
    public let shape: [Int]
    /// Element type (from the layout: bfloat16 activations come from `converted(to: .bfloat16)`).
    public var dtype: DType { desc.raw.data_type == dnnl_bf16 ? .bfloat16 : .float32 }
    /// Whether gradients flow to this tensor: true for trainable leaves and for results of ops on them.
    public internal(set) var requiresGrad: Bool
    /// The accumulated gradient of a leaf that requires grad (a `Parameter`'s tensor or an input the
    /// caller marked), in this tensor's layout; nil until a backward pass reaches it.
    public internal(set) var grad: Tensor?
    /// Whether `grad`'s buffer belongs to this tensor alone (see `accumulateGrad`).
    var gradIsOwned = false

    let desc: MemoryDesc
    let storage: Storage
    /// The recorded operation that produced this tensor (nil for leaves and untracked results).
    var node: Node?
    private var cachedMemory: Memory?

    init(desc: MemoryDesc, storage: Storage? = nil, requiresGrad: Bool = false) {
        self.desc = desc
        self.shape = desc.dims
        self.storage = storage ?? Storage(byteCount: desc.byteCount, zeroed: desc.hasPadding)
        self.requiresGrad = requiresGrad
    }

    /// A tensor holding `values` in PyTorch's contiguous (row-major) order.
    public convenience init(shape: [Int], values: [Float], requiresGrad: Bool = false) {
        precondition(values.count == shape.reduce(1, *),
                     "Tensor(shape: \(shape)) needs \(shape.reduce(1, *)) values, got \(values.count)")
        let desc = try! MemoryDesc.plain(shape)
        self.init(desc: desc, requiresGrad: requiresGrad)
        values.withUnsafeBufferPointer { source in
            storage.pointer.copyMemory(from: source.baseAddress!, byteCount: values.count * 4)
        }
    }

    /// A tensor holding `count(shape)` floats copied from `buffer`, in PyTorch's contiguous order.
    public convenience init(shape: [Int], copying buffer: UnsafeBufferPointer<Float>, requiresGrad: Bool = false) {
        precondition(buffer.count == shape.reduce(1, *),
                     "Tensor(shape: \(shape)) needs \(shape.reduce(1, *)) values, got \(buffer.count)")
        self.init(desc: try! MemoryDesc.plain(shape), requiresGrad: requiresGrad)
        _ = storage.floats(buffer.count).update(fromContentsOf: buffer)
    }

    /// A tensor of `shape` with every element `value`.
    public convenience init(shape: [Int], repeating value: Float, requiresGrad: Bool = false) {
        self.init(desc: try! MemoryDesc.plain(shape), requiresGrad: requiresGrad)
        storage.floats(count).initialize(repeating: value)
    }

    /// A zero tensor of `shape`.
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, repeating: 0, requiresGrad: requiresGrad)
    }

    /// Number of logical elements.
    public var count: Int { shape.reduce(1, *) }

    /// Whether the layout is PyTorch's contiguous row-major order (false for blocked layouts).
    public var isPlain: Bool { desc.isPlain }

    /// The physical layout in words (dims, type, strides, blocks), for logs and tests.
    public var layoutDescription: String { desc.description }

    /// The elements in PyTorch's contiguous order (reorders blocked layouts; the tensor is unchanged).
    public func values() throws -> [Float] {
        let plain = try reordered(to: .plain(shape)).storage   // float32, PyTorch order
        return withExtendedLifetime(plain) { Array(UnsafeBufferPointer(plain.floats(count))) }
    }

    /// The single element of a one-element tensor (a loss).
    public func item() throws -> Float {
        precondition(count == 1, "item() needs a one-element tensor, shape is \(shape)")
        return try values()[0]
    }

    /// The same data (and layout) without history: a leaf, requiring grad only if asked
    /// (torch: x.detach().requires_grad_(requiresGrad)).
    public func detached(requiresGrad: Bool = false) -> Tensor {
        Tensor(desc: desc, storage: storage, requiresGrad: requiresGrad)
    }

    /// Reads the elements of a plain tensor in place (no copy). Precondition: `isPlain`.
    public func withUnsafeValues<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(isPlain && dtype == .float32, "withUnsafeValues needs a plain float32 tensor, layout \(desc)")
        return try body(UnsafeBufferPointer(storage.floats(count)))
    }

    /// Writes the elements of a plain tensor in place. Engine-internal: users mutate only
    /// `Parameter`s and `Buffer`s, whose tensors are plain.
    func withUnsafeMutableValues<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        precondition(isPlain && dtype == .float32, "withUnsafeMutableValues needs a plain float32 tensor, layout \(desc)")
        return try body(storage.floats(count))
    }

    /// The oneDNN memory object over this tensor's buffer (created once).
    func memory() throws -> Memory {
        if let cachedMemory { return cachedMemory }
        let memory = try Memory(desc, storage)
        cachedMemory = memory
        return memory
    }

    /// The storage of a plain copy (self's when already plain).
    func contiguousStorage() throws -> Storage {
        if isPlain { return storage }
        return try reordered(to: MemoryDesc.plain(shape, dtype.dnnl)).storage
    }

    /// This tensor's data in layout `target` (self when already so); not recorded by autograd.
    func reordered(to target: MemoryDesc) throws -> Tensor {
        if desc == target { return self }
        let result = Tensor(desc: target)
        let source = desc
        let primitive = try PrimitiveCache.shared.primitive("reorder|\(source)|\(target)") {
            var pd: dnnl_primitive_desc_t?
            var src = source.raw, dst = target.raw
            let engine = DNNLContext.shared.engine
            try check(dnnl_reorder_primitive_desc_create(&pd, &src, engine, &dst, engine, nil),
                      "reorder", "\(source) -> \(target)")
            return try Primitive(PrimitiveDesc(handle: pd!), name: "reorder \(source) -> \(target)")
        }
        try primitive.execute([(Arg.src, memory()), (Arg.dst, result.memory())])
        return result
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        "Tensor(shape: \(shape), \(dtype), layout: \(desc)\(requiresGrad ? ", requiresGrad" : ""))"
    }
}

extension MemoryDesc {
    /// Whether a blocked layout pads some dimension (for example 3 channels in 16-channel blocks).
    var hasPadding: Bool {
        let padded = withUnsafeBytes(of: raw.padded_dims) { Array($0.bindMemory(to: Int64.self).prefix(rank)) }
        return padded.map { Int($0) } != dims
    }
}
