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

    /// PyTorch's legacy (pre-1.6, or `_use_new_zipfile_serialization=False`) layout: a magic-number pickle, the
    /// format version (1001), the system info, the state_dict pickle, the sorted list of storage keys, then each
    /// storage as an 8-byte little-endian element count and its raw data. Returns the records and each storage's
    /// bytes.
    public static func legacy(_ data: Data, file: String) throws -> (records: [(name: String, tensor: TorchTensorRecord)], storages: [String: Data]) {
        func fail(_ message: String) -> DataFormatError { DataFormatError(file: file, message: message) }
        let bytes = [UInt8](data)
        guard bytes.starts(with: legacyMagic) else { throw fail("neither a zip archive nor PyTorch's legacy format (no magic number)") }
        let plain: Set<String> = [], what = "PyTorch's legacy format"
        let (version, afterVersion) = try PickleReader.load(bytes: bytes, from: legacyMagic.count, file: file, allowedGlobals: plain,
                                                            contents: what) { $0 }
        guard case .int(1001) = version else { throw fail("legacy format version \(version.kind), expected 1001") }
        let (littleEndian, afterInfo) = try PickleReader.load(bytes: bytes, from: afterVersion, file: file, allowedGlobals: plain,
                                                              contents: what) { info -> Bool in
            guard case .dict(let dict) = info else { return false }
            return dict.entries.contains { entry in
                if case .string("little_endian") = entry.key, case .bool(true) = entry.value { return true }
                return false
            }
        }
        guard littleEndian else { throw fail("the file was written on a big-endian machine (or has no system info)") }
        let (records, afterState) = try PickleReader.load(bytes: bytes, from: afterInfo, file: file, allowedGlobals: allowedGlobals,
                                                          contents: "a PyTorch state_dict holds only named tensors") {
            try interpret($0, file: file)
        }
        let (keys, afterKeys) = try PickleReader.load(bytes: bytes, from: afterState, file: file, allowedGlobals: plain,
                                                      contents: what) { value -> [String] in
            guard case .list(let list) = value else { throw fail("expected the list of storage keys, found \(value.kind)") }
            return try list.items.map { item in
                guard case .string(let key) = item else { throw fail("a storage key is \(item.kind)") }
                return key
            }
        }
        var sizes: [String: Int] = [:]
        for (_, record) in records { sizes[record.storage] = record.elementType.byteCount }
        var storages: [String: Data] = [:], position = afterKeys
        for key in keys {
            guard let size = sizes[key] else { throw fail("storage \(key) is not used by any tensor") }
            guard bytes.count - position >= 8 else { throw fail("file truncated before storage \(key)") }
            var count: UInt64 = 0
            for shift in 0..<8 { count |= UInt64(bytes[position + shift]) << (8 * UInt64(shift)) }
            position += 8
            guard count <= UInt64((bytes.count - position) / size) else {
                throw fail("storage \(key) announces \(count) elements of \(size) bytes; \(bytes.count - position) bytes remain")
            }
            let length = Int(count) * size
            storages[key] = Data(bytes[position..<(position + length)])
            position += length
        }
        return (records, storages)
    }

    /// `pickle.dump(0x1950a86a20f9469cfc6c, f, protocol=2)`: PROTO 2, LONG1 of 10 bytes, STOP.
    public static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]

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
