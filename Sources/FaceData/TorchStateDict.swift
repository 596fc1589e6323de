import Foundation

/// One tensor of a `torch.save` state_dict as its pickle describes it: which storage (an entry of the zip's
/// `data/` folder), its element type, and the view (offset, shape, strides in elements) into it.
public struct TorchTensorRecord: Equatable, Sendable {
    public enum ElementType: String, Sendable {
        case float32 = "FloatStorage", float16 = "HalfStorage", bfloat16 = "BFloat16Storage", float64 = "DoubleStorage"
        case int64 = "LongStorage"

        public var byteCount: Int {
            switch self {
            case .float32: return 4
            case .float16, .bfloat16: return 2
            case .float64, .int64: return 8
            }
        }
    }

    public var storage: String
    public var elementType: ElementType
    public var offset: Int
    public var shape: [Int]
    public var strides: [Int]
}

/// Reads the pickle (`data.pkl`) of a `torch.save(state_dict)` file without running it: only an
/// (Ordered)dict of names to tensors rebuilt by `torch._utils._rebuild_tensor_v2` (or wrapped in
/// `_rebuild_parameter`) from persistent storage ids is accepted; any other global (os.system, say) is refused
/// with its name and byte offset before anything is built.
public enum TorchStateDict {
    static let allowedGlobals: Set<String> = Set(
        ["collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter"]
        + ["FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage"].map { "torch.\($0)" })

    public static func records(pickle data: Data, file: String) throws -> [(name: String, tensor: TorchTensorRecord)] {
        try PickleReader.load(data, file: file, allowedGlobals: allowedGlobals,
                              contents: "a PyTorch state_dict holds only named tensors") { value in
            try interpret(value, file: file)
        }
    }

    private static func interpret(_ value: PickleValue, file: String) throws -> [(name: String, tensor: TorchTensorRecord)] {
        func fail(_ message: String) -> DataFormatError { DataFormatError(file: file, message: message) }
        var root = value
        // A checkpoint saved as {"state_dict": ...} (a common wrapper) holds the tensors one level down.
        if case .dict(let dict) = root, dict.entries.count == 1, case .string("state_dict") = dict.entries[0].key {
            root = dict.entries[0].value
        }
        guard case .dict(let dict) = root else {
            throw fail("expected a state_dict (a dict of names to tensors), found \(root.kind)")
        }
        return try dict.entries.map { key, value in
            guard case .string(let name) = key else { throw fail("a state_dict key is \(key.kind), not a string") }
            return (name, try tensor(value, name: name, fail: fail))
        }
    }

    private static func tensor(_ value: PickleValue, name: String, fail: (String) -> DataFormatError) throws -> TorchTensorRecord {
        guard case .object(let object) = value, case .global("torch._utils", let function) = object.callable else {
            throw fail("'\(name)' is \(value.kind), not a tensor")
        }
        if function == "_rebuild_parameter" {
            guard let inner = object.arguments.first else { throw fail("'\(name)': _rebuild_parameter without a tensor") }
            return try tensor(inner, name: name, fail: fail)
        }
        let arguments = object.arguments
        guard arguments.count >= 4, case .persistent(.tuple(let id)) = arguments[0], id.count >= 3,
              case .string("storage") = id[0], case .global("torch", let storageType) = id[1], case .string(let key) = id[2],
              case .int(let offset) = arguments[1], case .tuple(let sizes) = arguments[2], case .tuple(let strides) = arguments[3]
        else {
            throw fail("'\(name)': not a tensor rebuilt from a storage (_rebuild_tensor_v2(storage, offset, size, stride, ...))")
        }
        guard let elementType = TorchTensorRecord.ElementType(rawValue: storageType) else {
            throw fail("'\(name)': storage type torch.\(storageType) is not supported (float32, float16, bfloat16, float64, int64)")
        }
        func integers(_ values: [PickleValue], _ what: String) throws -> [Int] {
            try values.map { item in
                guard case .int(let number) = item, number >= 0 else { throw fail("'\(name)': \(what) holds \(item.kind)") }
                return number
            }
        }
        guard offset >= 0 else { throw fail("'\(name)': negative storage offset \(offset)") }
        let shape = try integers(sizes, "size"), stride = try integers(strides, "stride")
        guard shape.count == stride.count else { throw fail("'\(name)': \(shape.count) sizes but \(stride.count) strides") }
        return TorchTensorRecord(storage: key, elementType: elementType, offset: offset, shape: shape, strides: stride)
    }
}
