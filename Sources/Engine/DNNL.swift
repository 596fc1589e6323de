// Thin typed wrappers over oneDNN's C API: every handle is owned by a final class that releases it in
// deinit, and every call goes through `check`, which turns a bad status into a thrown EngineError.
import CDNNL
import Foundation

/// Errors raised by the engine. oneDNN failures name the operation and the shapes involved.
public enum EngineError: Error, CustomStringConvertible {
    /// A oneDNN call returned `status` while running `operation`; `detail` names the shapes.
    case dnnl(operation: String, status: String, detail: String)
    /// Arguments that cannot work together (shapes, layouts, element types).
    case invalidArgument(operation: String, detail: String)

    public var description: String {
        switch self {
        case let .dnnl(operation, status, detail):
            return "oneDNN \(operation) failed with \(status) (\(detail))"
        case let .invalidArgument(operation, detail):
            return "\(operation): \(detail)"
        }
    }
}

func statusName(_ status: dnnl_status_t) -> String {
    switch status {
    case dnnl_out_of_memory: return "out_of_memory"
    case dnnl_invalid_arguments: return "invalid_arguments"
    case dnnl_unimplemented: return "unimplemented"
    case dnnl_iterator_ends: return "iterator_ends"
    case dnnl_runtime_error: return "runtime_error"
    case dnnl_not_required: return "not_required"
    default: return "status \(status.rawValue)"
    }
}

/// Runs one oneDNN call; a status other than success becomes `EngineError.dnnl`.
@inline(__always)
func check(_ status: dnnl_status_t, _ operation: String, _ detail: @autoclosure () -> String) throws {
    if status != dnnl_success {
        throw EngineError.dnnl(operation: operation, status: statusName(status), detail: detail())
    }
}

/// The process-wide CPU engine and its stream (oneDNN threads come from OpenMP: OMP_NUM_THREADS).
final class DNNLContext {
    static let shared: DNNLContext = {
        do { return try DNNLContext() } catch { fatalError("cannot create the oneDNN CPU engine: \(error)") }
    }()

    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    private init() throws {
        var engine: dnnl_engine_t?
        try check(dnnl_engine_create(&engine, dnnl_cpu, 0), "engine_create", "cpu 0")
        var stream: dnnl_stream_t?
        try check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream_create", "cpu")
        self.engine = engine!
        self.stream = stream!
    }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }
}

/// A oneDNN memory descriptor (shape, element type and physical layout) as a Swift value.
struct MemoryDesc: CustomStringConvertible {
    var raw: dnnl_memory_desc_t

    init(raw: dnnl_memory_desc_t) { self.raw = raw }

    /// A descriptor of `dims` laid out by `tag` (dnnl_format_tag_any lets a primitive choose).
    init(_ dims: [Int], _ dataType: dnnl_data_type_t, _ tag: dnnl_format_tag_t) throws {
        var md = dnnl_memory_desc_t()
        let dims64 = dims.map { Int64($0) }
        try check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims64, dataType, tag),
                  "memory_desc_init_by_tag", "dims \(dims) tag \(tag.rawValue)")
        raw = md
    }

    /// The dense row-major (PyTorch contiguous) layout of `dims`.
    static func plain(_ dims: [Int], _ dataType: dnnl_data_type_t = dnnl_f32) throws -> MemoryDesc {
        try MemoryDesc(dims, dataType, plainTag(rank: dims.count))
    }

    static func any(_ dims: [Int], _ dataType: dnnl_data_type_t = dnnl_f32) throws -> MemoryDesc {
        try MemoryDesc(dims, dataType, dnnl_format_tag_any)
    }

    static func plainTag(rank: Int) -> dnnl_format_tag_t {
        switch rank {
        case 1: return dnnl_a
        case 2: return dnnl_ab
        case 3: return dnnl_abc
        case 4: return dnnl_abcd
        case 5: return dnnl_abcde
        case 6: return dnnl_abcdef
        default: preconditionFailure("tensors of rank \(rank) are not supported (1...6)")
        }
    }

    var rank: Int { Int(raw.ndims) }

    var dims: [Int] {
        withUnsafeBytes(of: raw.dims) { Array($0.bindMemory(to: Int64.self).prefix(rank)).map { Int($0) } }
    }

    /// Bytes of the buffer this layout needs, padding included.
    var byteCount: Int {
        var md = raw
        return dnnl_memory_desc_get_size(&md)
    }

    var isZero: Bool { raw.ndims == 0 }

    /// Whether this is the dense row-major layout (what PyTorch calls contiguous).
    var isPlain: Bool {
        guard let plain = try? MemoryDesc.plain(dims, raw.data_type) else { return false }
        return self == plain
    }

    static func == (lhs: MemoryDesc, rhs: MemoryDesc) -> Bool {
        var a = lhs.raw, b = rhs.raw
        return dnnl_memory_desc_equal(&a, &b) != 0
    }

    static func != (lhs: MemoryDesc, rhs: MemoryDesc) -> Bool { !(lhs == rhs) }

    /// A short text naming dims, type and blocking; used for cache keys and error messages.
    var description: String {
        var text = "\(dims)/t\(raw.data_type.rawValue)"
        if raw.format_kind == dnnl_blocked {
            let blocking = raw.format_desc.blocking
            let strides = withUnsafeBytes(of: blocking.strides) { Array($0.bindMemory(to: Int64.self).prefix(rank)) }
            let blocks = withUnsafeBytes(of: blocking.inner_blks) {
                Array($0.bindMemory(to: Int64.self).prefix(Int(blocking.inner_nblks)))
            }
            let indices = withUnsafeBytes(of: blocking.inner_idxs) {
                Array($0.bindMemory(to: Int64.self).prefix(Int(blocking.inner_nblks)))
            }
            text += "/s\(strides)"
            if !blocks.isEmpty { text += "/b\(blocks)i\(indices)" }
            if raw.offset0 != 0 { text += "/o\(raw.offset0)" }
            if raw.extra.flags != 0 { text += "/x\(raw.extra.flags)" }
        } else {
            text += "/k\(raw.format_kind.rawValue)"
        }
        return text
    }
}

/// A primitive descriptor; owns the handle.
final class PrimitiveDesc {
    let handle: dnnl_primitive_desc_t

    init(handle: dnnl_primitive_desc_t) { self.handle = handle }

    /// Creates the descriptor of an operation described by `opDesc` (a dnnl_*_desc_t).
    convenience init<Op>(_ opDesc: inout Op, hint: PrimitiveDesc? = nil, attr: PrimitiveAttr? = nil,
                         _ operation: String, _ detail: @autoclosure () -> String) throws {
        var pd: dnnl_primitive_desc_t?
        try withUnsafePointer(to: &opDesc) { pointer in
            try check(dnnl_primitive_desc_create(&pd, UnsafeRawPointer(pointer), attr?.handle,
                                                 DNNLContext.shared.engine, hint?.handle),
                      operation, detail())
        }
        self.init(handle: pd!)
    }

    /// The memory descriptor of one argument (`dnnl_query_src_md` etc.); a zero desc if unused.
    func md(_ what: dnnl_query_t, _ index: Int32 = 0) -> MemoryDesc {
        guard let pointer = dnnl_primitive_desc_query_md(handle, what, index) else {
            return MemoryDesc(raw: dnnl_memory_desc_t())
        }
        return MemoryDesc(raw: pointer.pointee)
    }

    /// The implementation oneDNN picked, for example "jit:avx512_core".
    var implementation: String {
        var name: UnsafePointer<CChar>?
        _ = dnnl_primitive_desc_query(handle, dnnl_query_impl_info_str, 0, &name)
        return name.map { String(cString: $0) } ?? "?"
    }

    deinit { dnnl_primitive_desc_destroy(handle) }
}

/// Primitive attributes (only what the engine uses).
final class PrimitiveAttr {
    let handle: dnnl_primitive_attr_t

    init() throws {
        var attr: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attr), "primitive_attr_create", "")
        handle = attr!
    }

    deinit { dnnl_primitive_attr_destroy(handle) }
}

/// An executable primitive together with its descriptor.
final class Primitive {
    let handle: dnnl_primitive_t
    let desc: PrimitiveDesc
    let name: String

    init(_ desc: PrimitiveDesc, name: String) throws {
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, desc.handle), "primitive_create", name)
        handle = primitive!
        self.desc = desc
        self.name = name
    }

    /// Runs the primitive on the shared stream and waits for it. One primitive at a time in the process:
    /// the stream and oneDNN's library-owned scratchpads are not safe to use from two threads at once
    /// (ranks as threads in tests, evaluation beside training), and each primitive already uses every core.
    func execute(_ arguments: [(Int32, Memory)]) throws {
        var args = arguments.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.handle) }
        let context = DNNLContext.shared
        Self.executionLock.lock()
        defer { Self.executionLock.unlock() }
        try check(dnnl_primitive_execute(handle, context.stream, Int32(args.count), &args), "execute", name)
        try check(dnnl_stream_wait(context.stream), "stream_wait", name)
        withExtendedLifetime(arguments) {}
    }

    private static let executionLock = NSLock()

    deinit { dnnl_primitive_destroy(handle) }
}

/// A oneDNN memory object over a buffer the engine allocated (see Storage).
final class Memory {
    let handle: dnnl_memory_t
    let desc: MemoryDesc
    let storage: Storage

    init(_ desc: MemoryDesc, _ storage: Storage) throws {
        precondition(storage.byteCount >= desc.byteCount,
                     "buffer of \(storage.byteCount) bytes is too small for \(desc) (\(desc.byteCount) bytes)")
        var md = desc.raw
        var memory: dnnl_memory_t?
        try check(dnnl_memory_create(&memory, &md, DNNLContext.shared.engine, storage.pointer),
                  "memory_create", "\(desc)")
        handle = memory!
        self.desc = desc
        self.storage = storage
    }

    deinit { dnnl_memory_destroy(handle) }
}

/// Argument tags of `Primitive.execute` (the DNNL_ARG_* macros).
enum Arg {
    static let src = Int32(DNNL_ARG_SRC_0)
    static let src1 = Int32(DNNL_ARG_SRC_1)
    static let dst = Int32(DNNL_ARG_DST_0)
    static let weights = Int32(DNNL_ARG_WEIGHTS_0)
    static let bias = Int32(DNNL_ARG_BIAS)
    static let mean = Int32(DNNL_ARG_MEAN)
    static let variance = Int32(DNNL_ARG_VARIANCE)
    static let scale = Int32(DNNL_ARG_SCALE)
    static let shift = Int32(DNNL_ARG_SHIFT)
    static let workspace = Int32(DNNL_ARG_WORKSPACE)
    static let diffSrc = Int32(DNNL_ARG_DIFF_SRC_0)
    static let diffDst = Int32(DNNL_ARG_DIFF_DST_0)
    static let diffWeights = Int32(DNNL_ARG_DIFF_WEIGHTS_0)
    static let diffBias = Int32(DNNL_ARG_DIFF_BIAS)
    static let diffScale = Int32(DNNL_ARG_DIFF_SCALE)
    static let diffShift = Int32(DNNL_ARG_DIFF_SHIFT)
    static func multipleSrc(_ index: Int) -> Int32 { Int32(DNNL_ARG_MULTIPLE_SRC) + Int32(index) }
}
