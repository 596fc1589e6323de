import Foundation

// The safetensors format (https://huggingface.co/docs/safetensors):
//   8 bytes   little-endian UInt64 N, the header length in bytes
//   N bytes   UTF-8 JSON object: name -> {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//             plus an optional "__metadata__": {string: string}; may be padded with trailing spaces
//   the rest  the byte buffer; offsets are relative to its start, tensors are little-endian, C order,
//             and together cover the buffer without gaps or overlaps.

/// Element types of a safetensors file that HaarFace reads and writes.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case float32 = "F32"
    case bfloat16 = "BF16"
    case int64 = "I64"

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .float32: return 4
        case .bfloat16: return 2
        case .int64: return 8
        }
    }
}

/// One named tensor of a safetensors file: element type, shape and the raw little-endian bytes.
public struct SafeTensor: Equatable, Sendable {
    public var dtype: SafeTensorsDType
    public var shape: [Int]
    /// Little-endian elements in C (row-major) order; `bytes.count == elementCount * dtype.byteCount`.
    public var bytes: [UInt8]

    /// Number of elements (1 for a scalar of shape []).
    public var elementCount: Int { shape.reduce(1, *) }

    public init(dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(bytes.count == shape.reduce(1, *) * dtype.byteCount,
                     "\(bytes.count) bytes do not hold a \(dtype.rawValue) tensor of shape \(shape)")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// An F32 tensor.
    public init(float32 values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        #if _endian(little)
        let bytes = values.withUnsafeBytes { Array($0) }   // the file's byte order is this machine's
        #else
        var bytes = [UInt8](repeating: 0, count: values.count * 4)
        for (i, value) in values.enumerated() {
            let bits = value.bitPattern
            for b in 0..<4 { bytes[4 * i + b] = UInt8(truncatingIfNeeded: bits >> (8 * UInt32(b))) }
        }
        #endif
        self.init(dtype: .float32, shape: shape, bytes: bytes)
    }

    /// A BF16 tensor, each value rounded to the nearest bfloat16 (ties to even), as PyTorch's `.bfloat16()`.
    public init(bfloat16 values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        var bytes = [UInt8](repeating: 0, count: values.count * 2)
        for (i, value) in values.enumerated() {
            let bits = SafeTensor.bfloat16Bits(value)
            bytes[2 * i] = UInt8(truncatingIfNeeded: bits)
            bytes[2 * i + 1] = UInt8(truncatingIfNeeded: bits >> 8)
        }
        self.init(dtype: .bfloat16, shape: shape, bytes: bytes)
    }

    /// An I64 tensor.
    public init(int64 values: [Int64], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        var bytes = [UInt8](repeating: 0, count: values.count * 8)
        for (i, value) in values.enumerated() {
            let bits = UInt64(bitPattern: value)
            for b in 0..<8 { bytes[8 * i + b] = UInt8(truncatingIfNeeded: bits >> (8 * UInt64(b))) }
        }
        self.init(dtype: .int64, shape: shape, bytes: bytes)
    }

    /// The elements as Float: F32 as stored, BF16 widened exactly, I64 converted (rounded above 2^24).
    public func floats() -> [Float] {
        var values = [Float](repeating: 0, count: elementCount)
        switch dtype {
        case .float32:
            #if _endian(little)
            bytes.withUnsafeBytes { source in values.withUnsafeMutableBytes { $0.copyMemory(from: source) } }
            #else
            for i in 0..<values.count {
                var bits: UInt32 = 0
                for b in 0..<4 { bits |= UInt32(bytes[4 * i + b]) << (8 * UInt32(b)) }
                values[i] = Float(bitPattern: bits)
            }
            #endif
        case .bfloat16:
            for i in 0..<values.count {
                let bits = UInt32(bytes[2 * i]) | UInt32(bytes[2 * i + 1]) << 8
                values[i] = Float(bitPattern: bits << 16)
            }
        case .int64:
            values = int64s().map { Float($0) }
        }
        return values
    }

    /// The elements as Int64: I64 as stored; floating-point types truncated toward zero.
    public func int64s() -> [Int64] {
        guard dtype == .int64 else { return floats().map { Int64($0) } }
        var values = [Int64](repeating: 0, count: elementCount)
        for i in 0..<values.count {
            var bits: UInt64 = 0
            for b in 0..<8 { bits |= UInt64(bytes[8 * i + b]) << (8 * UInt64(b)) }
            values[i] = Int64(bitPattern: bits)
        }
        return values
    }

    /// Round-to-nearest-even truncation of a Float to its upper 16 bits; NaN stays a quiet NaN.
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        if value.isNaN { return 0x7FC0 }
        let bits = value.bitPattern
        let roundingBias: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
    }
}

/// What went wrong reading or writing a safetensors file; the description names the file and tensor.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public var file: String
    /// The tensor concerned, or nil for a file-level problem (header length, JSON).
    public var tensor: String?
    public var problem: String

    public init(file: String, tensor: String? = nil, problem: String) {
        self.file = file
        self.tensor = tensor
        self.problem = problem
    }

    public var description: String {
        if let tensor { return "\(file): tensor '\(tensor)': \(problem)" }
        return "\(file): \(problem)"
    }
}

/// The named tensors and string metadata of one safetensors file.
public struct SafeTensors: Equatable, Sendable {
    /// Tensors by name.
    public var tensors: [String: SafeTensor]
    /// The `__metadata__` entry (string to string); empty when absent.
    public var metadata: [String: String]

    public init(tensors: [String: SafeTensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    public subscript(name: String) -> SafeTensor? {
        get { tensors[name] }
        set { tensors[name] = newValue }
    }

    /// Largest header this reader accepts (the reference implementation's limit is 100 MB).
    static let maximumHeaderBytes = 100_000_000

    // MARK: - Reading

    /// Reads and validates a safetensors file.
    public static func read(contentsOf url: URL) throws -> SafeTensors {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw SafeTensorsError(file: url.path, problem: "cannot be read (\(error.localizedDescription))")
        }
        return try decode([UInt8](data), file: url.path)
    }

    /// Parses the bytes of a safetensors file; `file` names it in errors.
    public static func decode(_ bytes: [UInt8], file: String = "<memory>") throws -> SafeTensors {
        func fail(_ problem: String) -> SafeTensorsError {
            SafeTensorsError(file: file, problem: problem)
        }
        func fail(_ tensor: String, _ problem: String) -> SafeTensorsError {
            SafeTensorsError(file: file, tensor: tensor, problem: problem)
        }
        guard bytes.count >= 8 else {
            throw fail("is \(bytes.count) bytes long: expected at least the 8-byte header length")
        }
        var headerLength: UInt64 = 0
        for b in 0..<8 { headerLength |= UInt64(bytes[b]) << (8 * UInt64(b)) }
        guard headerLength <= UInt64(maximumHeaderBytes) else {
            throw fail("header length \(headerLength) exceeds \(maximumHeaderBytes) bytes: not a safetensors file?")
        }
        guard 8 + Int(headerLength) <= bytes.count else {
            throw fail("truncated: header claims \(headerLength) bytes but only \(bytes.count - 8) follow")
        }
        let headerBytes = bytes[8..<(8 + Int(headerLength))]
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw fail("header does not start with '{': not a safetensors file?")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw fail("header is not valid JSON (\(error.localizedDescription))")
        }
        guard let header = parsed as? [String: Any] else { throw fail("header is not a JSON object") }

        let bufferStart = 8 + Int(headerLength)
        let bufferLength = bytes.count - bufferStart
        var result = SafeTensors()
        var spans: [(begin: Int, end: Int, name: String)] = []
        for (name, entry) in header {
            if name == "__metadata__" {
                guard let metadata = entry as? [String: Any] else {
                    throw fail("__metadata__ is not an object of strings")
                }
                for (key, value) in metadata {
                    guard let text = value as? String else {
                        throw fail("__metadata__ entry '\(key)' is not a string")
                    }
                    result.metadata[key] = text
                }
                continue
            }
            guard let info = entry as? [String: Any] else { throw fail(name, "header entry is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw fail(name, "has no \"dtype\" string") }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                let known = SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
                throw fail(name, "dtype \(dtypeName) is not supported (expected one of \(known))")
            }
            guard let shapeValues = info["shape"] as? [Any],
                  let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(name, "\"shape\" is not a list of non-negative integers")
            }
            guard let offsetValues = info["data_offsets"] as? [Any], let offsets = integers(offsetValues),
                  offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail(name, "\"data_offsets\" is not [begin, end] with 0 <= begin <= end")
            }
            // Each dimension is below 9e15, but their product need not fit: overflow is a mismatch, not a trap.
            let expectedBytes = shape.reduce(Optional(dtype.byteCount)) { product, dimension in
                product.flatMap { product in
                    let (result, overflow) = product.multipliedReportingOverflow(by: dimension)
                    return overflow ? nil : result
                }
            }
            guard let expectedBytes, offsets[1] - offsets[0] == expectedBytes else {
                throw fail(name, "spans \(offsets[1] - offsets[0]) bytes but \(dtypeName) \(shape) needs \(expectedBytes.map(String.init) ?? "more than 2^63")")
            }
            guard offsets[1] <= bufferLength else {
                throw fail(name, "truncated body: the tensor ends at byte \(offsets[1]) of the data but the file holds \(bufferLength)")
            }
            let begin = bufferStart + offsets[0]
            let end = bufferStart + offsets[1]
            result.tensors[name] = SafeTensor(dtype: dtype, shape: shape, bytes: Array(bytes[begin..<end]))
            spans.append((offsets[0], offsets[1], name))
        }
        // The format requires the tensors to tile the buffer exactly; a gap or overlap means a damaged file.
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        for span in spans {
            guard span.begin == covered else {
                throw fail(span.name, span.begin < covered
                    ? "overlaps the previous tensor (starts at \(span.begin), previous ends at \(covered))"
                    : "leaves a gap: starts at \(span.begin), previous ends at \(covered)")
            }
            covered = span.end
        }
        guard covered == bufferLength else {
            throw fail("data is \(bufferLength) bytes but the tensors cover \(covered)")
        }
        return result
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let number = value as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double == double.rounded(), abs(double) < 9.0e15 else { return nil }
            result.append(number.intValue)
        }
        return result
    }

    // MARK: - Writing

    /// The file's bytes: tensors in name order, header padded with spaces to a multiple of 8 bytes.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount)
        writePieces { bytes += $0 }
        return bytes
    }

    /// The file's size in bytes.
    public var byteCount: Int { 8 + header().count + tensors.values.reduce(0) { $0 + $1.bytes.count } }

    /// Hands the file's bytes to `emit` in order, in pieces (the header's length and the header, then each
    /// tensor's bytes where they lie): a 1.2 GB tensor is written without another copy of it.
    public func writePieces(_ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let header = header()
        var length = UInt64(header.count).littleEndian
        try withUnsafeBytes(of: &length) { try emit($0) }
        try header.withUnsafeBytes { try emit($0) }
        for name in tensors.keys.sorted() { try tensors[name]!.bytes.withUnsafeBytes { try emit($0) } }
    }

    /// The JSON header, tensors in name order, padded with spaces to a multiple of 8 bytes.
    private func header() -> [UInt8] {
        var entries: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.keys.sorted().map { "\(Self.jsonString($0)):\(Self.jsonString(metadata[$0]!))" }
            entries.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for name in tensors.keys.sorted() {
            let tensor = tensors[name]!
            let end = offset + tensor.bytes.count
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(Self.jsonString(name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        return header
    }

    /// Writes the file atomically (a temporary file renamed into place).
    public func write(to url: URL) throws {
        do {
            try Data(encoded()).write(to: url, options: .atomic)
        } catch {
            throw SafeTensorsError(file: url.path, problem: "cannot be written (\(error.localizedDescription))")
        }
    }

    /// A JSON string literal with the escapes RFC 8259 requires.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
