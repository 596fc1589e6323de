import Foundation

/// A verification set: 2N images, pair i being images 2i and 2i+1, and whether each pair shows one identity.
public struct VerificationSet: Sendable {
    /// The set's name (lfw, cfp_fp, ...): the file or folder name without extension.
    public var name: String
    /// The 2N encoded images (JPEG or PNG), when the file holds encoded bytes; empty otherwise.
    public var images: [Data]
    /// The 2N images, when the file holds decoded uint8 arrays (H, W, 3) instead; empty otherwise.
    public var decodedImages: [RGBImage]
    /// One entry per pair.
    public var sameIdentity: [Bool]

    public init(name: String, images: [Data], decodedImages: [RGBImage] = [], sameIdentity: [Bool]) {
        self.name = name
        self.images = images
        self.decodedImages = decodedImages
        self.sameIdentity = sameIdentity
    }

    public var imageCount: Int { images.isEmpty ? decodedImages.count : images.count }
    public var pairCount: Int { sameIdentity.count }

    /// Image `index` decoded to RGB, whichever form the set holds.
    public func image(at index: Int, codec: JPEGCodec) throws -> RGBImage {
        if images.isEmpty { return decodedImages[index] }
        return try ImageDecoder.decode(images[index], codec: codec, source: "\(name) image \(index)")
    }
}

/// InsightFace's verification `.bin`: a pickle of `(list of 2N images, list of N booleans)`.
public enum VerificationBin {
    /// Writes a protocol 2 pickle byte for byte as Python 2 wrote the public files
    /// (Python 3 loads it with `pickle.load(f, encoding='bytes')`, as arcface_torch does).
    public static func write(images: [Data], sameIdentity: [Bool], to url: URL) throws {
        precondition(images.count == 2 * sameIdentity.count,
                     "a verification set needs 2 images per pair: \(images.count) images, \(sameIdentity.count) pairs")
        var writer = PickleWriter()
        writer.list(images) { $0.string($1) }
        writer.list(sameIdentity) { $0.bool($1) }
        writer.tuple2()
        writer.stop()
        do {
            try Data(writer.bytes).write(to: url)
        } catch {
            throw DataFormatError(file: url.path, message: "cannot write (\(error.localizedDescription))")
        }
    }

    public static func read(_ url: URL) throws -> VerificationSet {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw DataFormatError(file: url.path, message: "cannot read (\(error.localizedDescription))")
        }
        return try decode(data, name: url.deletingPathExtension().lastPathComponent, file: url.path)
    }

    /// Interprets the bytes of a .bin pickle; `file` names it in errors.
    public static func decode(_ data: Data, name: String, file: String) throws -> VerificationSet {
        try PickleReader.load(data, file: file) { try interpret($0, name: name, file: file) }
    }

    private static func interpret(_ value: PickleValue, name: String, file: String) throws -> VerificationSet {
        let parts: [PickleValue]
        switch value {
        case .tuple(let items): parts = items
        case .list(let list): parts = list.items
        default: parts = []
        }
        guard parts.count == 2 else {
            throw DataFormatError(file: file, message: "expected a pickled (images, same-identity flags) pair, found \(value.kind)"
                                      + (parts.isEmpty ? "" : " of \(parts.count) items"))
        }
        let sameIdentity = try flags(parts[1], file: file)
        guard case .list(let imageList) = parts[0] else {
            throw DataFormatError(file: file, message: "expected a list of images, found \(parts[0].kind)")
        }
        var encoded: [Data] = []
        var decoded: [RGBImage] = []
        for (index, item) in imageList.items.enumerated() {
            let location = "image \(index)"
            switch item {
            case .bytes(let bytes) where decoded.isEmpty:
                encoded.append(bytes)
            case .object where encoded.isEmpty || NumPyArray.isArray(item):
                let array = try NumPyArray(item, file: file, location: location)
                if array.descr == "u1", array.shape.count == 1, decoded.isEmpty {
                    encoded.append(array.data)  // encoded bytes kept as a uint8 vector
                } else if array.descr == "u1", array.shape.count == 3, array.shape[2] == 3, array.shape[0] > 0,
                          array.shape[1] > 0, encoded.isEmpty {
                    decoded.append(RGBImage(width: array.shape[1], height: array.shape[0], pixels: [UInt8](array.data)))
                } else {
                    throw DataFormatError(file: file, location: location,
                                          message: "expected uint8 array (H, W, 3) or encoded bytes, found \(array.descr) \(array.shape)"
                                              + (encoded.isEmpty && decoded.isEmpty ? "" : " (or a mix of encoded and decoded images)"))
                }
            default:
                throw DataFormatError(file: file, location: location, message: "expected encoded bytes or a uint8 array, found \(item.kind)")
            }
        }
        let imageCount = max(encoded.count, decoded.count)
        guard imageCount == 2 * sameIdentity.count else {
            throw DataFormatError(file: file, message: "expected 2 images per pair: \(imageCount) images for \(sameIdentity.count) pairs")
        }
        return VerificationSet(name: name, images: encoded, decodedImages: decoded, sameIdentity: sameIdentity)
    }

    private static func flags(_ value: PickleValue, file: String) throws -> [Bool] {
        switch value {
        case .list(let list):
            return try list.items.enumerated().map { index, item in
                switch item {
                case .bool(let flag): return flag
                case .int(let number) where number == 0 || number == 1: return number == 1
                default:
                    throw DataFormatError(file: file, location: "pair flag \(index)", message: "expected a boolean, found \(item.kind)")
                }
            }
        case .object:
            let array = try NumPyArray(value, file: file, location: "pair flags")
            guard array.descr == "b1", array.shape.count == 1 else {
                throw DataFormatError(file: file, location: "pair flags", message: "expected a bool vector, found \(array.descr) \(array.shape)")
            }
            return array.data.map { $0 != 0 }
        default:
            throw DataFormatError(file: file, message: "expected a list of same-identity flags, found \(value.kind)")
        }
    }
}

/// A NumPy array recovered from its pickled reconstruction, either `_reconstruct` + BUILD state
/// (protocols 2-4) or `_frombuffer` (protocol 5). Only byte-sized dtypes are accepted.
struct NumPyArray {
    var descr: String
    var shape: [Int]
    var data: Data

    static func isArray(_ value: PickleValue) -> Bool {
        guard case .object(let object) = value, case .global(_, let name) = object.callable else { return false }
        return name == "_reconstruct" || name == "_frombuffer"
    }

    init(_ value: PickleValue, file: String, location: String) throws {
        func failure(_ message: String) -> DataFormatError {
            DataFormatError(file: file, location: location, message: message)
        }
        guard case .object(let object) = value, case .global(_, let function) = object.callable else {
            throw failure("expected a NumPy array, found \(value.kind)")
        }
        let dtype: PickleValue, shapeValue: PickleValue, bytes: PickleValue
        switch function {
        case "_reconstruct":
            guard case .tuple(let state)? = object.state, state.count == 5 else {
                throw failure("NumPy array without its (version, shape, dtype, fortran, data) state")
            }
            if case .bool(true) = state[3] { throw failure("Fortran-ordered arrays are not supported") }
            (shapeValue, dtype, bytes) = (state[1], state[2], state[4])
        case "_frombuffer":
            guard object.arguments.count == 4 else { throw failure("_frombuffer needs (buffer, dtype, shape, order)") }
            if case .string("F") = object.arguments[3] { throw failure("Fortran-ordered arrays are not supported") }
            (bytes, dtype, shapeValue) = (object.arguments[0], object.arguments[1], object.arguments[2])
        default:
            throw failure("expected a NumPy array, found \(value.kind)")
        }
        guard case .object(let dtypeObject) = dtype, case .global("numpy", "dtype") = dtypeObject.callable,
              case .string(let typeName)? = dtypeObject.arguments.first else {
            throw failure("NumPy array without a dtype")
        }
        guard typeName == "u1" || typeName == "b1" else {
            throw failure("expected dtype uint8 or bool, found \(typeName)")
        }
        guard case .tuple(let dimensions) = shapeValue else { throw failure("NumPy array without a shape tuple") }
        var shape: [Int] = []
        var count = 1
        for dimension in dimensions {
            guard case .int(let size) = dimension, size >= 0 else { throw failure("invalid NumPy shape") }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw failure("invalid NumPy shape") }
            shape.append(size)
            count = product
        }
        guard case .bytes(let raw) = bytes else { throw failure("NumPy array data is \(bytes.kind), expected bytes") }
        guard raw.count == count else {
            throw failure("NumPy array of shape \(shape) needs \(count) bytes, found \(raw.count)")
        }
        self.descr = typeName
        self.shape = shape
        self.data = raw
    }
}
