import Foundation

/// An array read from a NumPy `.npy` file: its dtype string, shape and raw little-endian data.
public struct NPYArray: Equatable, Sendable {
    /// NumPy's dtype descriptor, e.g. `|b1`, `|u1`, `<f4`.
    public var descr: String
    public var shape: [Int]
    public var fortranOrder: Bool
    /// The elements' bytes, C order unless `fortranOrder`.
    public var data: Data

    public var elementCount: Int { shape.reduce(1, *) }

    /// The elements as booleans; throws unless the dtype is `|b1`.
    public func bools(file: String = "npy") throws -> [Bool] {
        guard descr == "|b1" else {
            throw DataFormatError(file: file, message: "expected dtype |b1 (bool), found \(descr)")
        }
        return data.map { $0 != 0 }
    }

    /// The elements as floats; throws unless the dtype is `<f4`.
    public func floats(file: String = "npy") throws -> [Float] {
        guard descr == "<f4" else {
            throw DataFormatError(file: file, message: "expected dtype <f4 (float32), found \(descr)")
        }
        return (0..<elementCount).map { Float(bitPattern: data.littleEndian(UInt32.self, at: 4 * $0)) }
    }
}

/// NumPy's `.npy` format, version 1.0 (and 2.0/3.0 on reading): magic `\x93NUMPY`, version, header
/// length, a Python-literal dict header padded to 64 bytes, then the raw data.
public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func write(_ values: [Bool], to url: URL) throws {
        try write(descr: "|b1", shape: [values.count], data: Data(values.map { $0 ? 1 : 0 }), to: url)
    }

    public static func write(_ values: [Float], shape: [Int], to url: URL) throws {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 * values.count)
        for value in values { bytes.appendLittleEndian(value) }
        try write(descr: "<f4", shape: shape, data: Data(bytes), to: url)
    }

    /// The bytes of a version 1.0 file, laid out as NumPy 1.24's `np.save` lays them out.
    static func encode(descr: String, shape: [Int], data: Data) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = magic.count + 2 + 2 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0]
        bytes.appendLittleEndian(UInt16(header.utf8.count))
        bytes += Array(header.utf8)
        return Data(bytes) + data
    }

    static func write(descr: String, shape: [Int], data: Data, to url: URL) throws {
        do {
            try encode(descr: descr, shape: shape, data: data).write(to: url)
        } catch {
            throw DataFormatError(file: url.path, message: "cannot write (\(error.localizedDescription))")
        }
    }

    public static func read(_ url: URL) throws -> NPYArray {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DataFormatError(file: url.path, message: "cannot read (\(error.localizedDescription))")
        }
        return try decode(data, file: url.path)
    }

    /// Parses the bytes of an .npy file; `file` names it in errors.
    public static func decode(_ data: Data, file: String) throws -> NPYArray {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw DataFormatError(file: file, location: "byte 0", message: "not an .npy file: expected the magic \\x93NUMPY")
        }
        let major = bytes[6]
        let headerStart: Int
        let headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(data.littleEndian(UInt16.self, at: 8))
        case 2, 3:
            guard bytes.count >= 12 else {
                throw DataFormatError(file: file, location: "byte 8", message: "file truncated in the header length")
            }
            headerStart = 12
            headerLength = Int(data.littleEndian(UInt32.self, at: 8))
        default:
            throw DataFormatError(file: file, location: "byte 6", message: "unsupported .npy version \(major).\(bytes[7]) (expected 1, 2 or 3)")
        }
        guard headerLength <= bytes.count - headerStart else {
            throw DataFormatError(file: file, location: "byte \(headerStart)",
                                  message: "file truncated: header of \(headerLength) bytes, \(bytes.count - headerStart) available")
        }
        guard let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8) else {
            throw DataFormatError(file: file, location: "byte \(headerStart)", message: "header is not text")
        }
        var parser = HeaderParser(text: header, file: file)
        let fields = try parser.parseDict()
        guard case .string(let descr)? = fields["descr"] else {
            throw DataFormatError(file: file, location: "header", message: "missing 'descr' string in \(header)")
        }
        guard case .bool(let fortran)? = fields["fortran_order"] else {
            throw DataFormatError(file: file, location: "header", message: "missing 'fortran_order' in \(header)")
        }
        guard case .tuple(let shape)? = fields["shape"] else {
            throw DataFormatError(file: file, location: "header", message: "missing 'shape' tuple in \(header)")
        }
        guard let itemSize = itemSize(descr) else {
            throw DataFormatError(file: file, location: "header", message: "unsupported dtype \(descr) (expected a numeric dtype)")
        }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, dimension >= 0 else {
                throw DataFormatError(file: file, location: "header", message: "invalid shape \(shape)")
            }
            count = product
        }
        let dataStart = headerStart + headerLength
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: itemSize)
        guard !overflow, byteCount == bytes.count - dataStart else {
            throw DataFormatError(file: file, location: "byte \(dataStart)",
                                  message: "shape \(shape) of \(descr) needs \(overflow ? "too many" : "\(byteCount)") bytes, "
                                      + "found \(bytes.count - dataStart)")
        }
        return NPYArray(descr: descr, shape: shape, fortranOrder: fortran,
                        data: data.subdata(in: (data.startIndex + dataStart)..<data.endIndex))
    }

    /// Bytes per element of the dtypes we read (little-endian or byte-sized only).
    static func itemSize(_ descr: String) -> Int? {
        let table: [String: Int] = ["|b1": 1, "|u1": 1, "|i1": 1, "<u2": 2, "<i2": 2, "<f2": 2,
                                    "<u4": 4, "<i4": 4, "<f4": 4, "<u8": 8, "<i8": 8, "<f8": 8]
        return table[descr]
    }
}

/// Parses the Python dict literal of an .npy header: string keys, string/bool/int-tuple values.
private struct HeaderParser {
    enum Value { case string(String), bool(Bool), tuple([Int]) }
    let characters: [Character]
    let file: String
    var position = 0

    init(text: String, file: String) {
        characters = Array(text)
        self.file = file
    }

    mutating func parseDict() throws -> [String: Value] {
        try expect("{")
        var fields: [String: Value] = [:]
        while true {
            skipSpaces()
            if peek() == "}" { position += 1; return fields }
            let key = try parseString()
            try expect(":")
            fields[key] = try parseValue()
            skipSpaces()
            if peek() == "," { position += 1 } else { try expect("}"); return fields }
        }
    }

    mutating func parseValue() throws -> Value {
        skipSpaces()
        switch peek() {
        case "'", "\"": return .string(try parseString())
        case "(":
            position += 1
            var values: [Int] = []
            while true {
                skipSpaces()
                if peek() == ")" { position += 1; return .tuple(values) }
                values.append(try parseInt())
                skipSpaces()
                if peek() == "," { position += 1 } else { try expect(")"); return .tuple(values) }
            }
        default:
            if consume("True") { return .bool(true) }
            if consume("False") { return .bool(false) }
            throw failure("a string, a tuple, True or False")
        }
    }

    mutating func parseString() throws -> String {
        skipSpaces()
        guard let quote = peek(), quote == "'" || quote == "\"" else { throw failure("a quoted string") }
        position += 1
        var text = ""
        while let character = peek(), character != quote {
            text.append(character)
            position += 1
        }
        try expect(quote)
        return text
    }

    mutating func parseInt() throws -> Int {
        var digits = ""
        while let character = peek(), character.isASCII, character.isNumber {
            digits.append(character)
            position += 1
        }
        if peek() == "L" { position += 1 }  // Python 2 long literals
        guard let value = Int(digits) else { throw failure("an integer") }
        return value
    }

    mutating func expect(_ character: Character) throws {
        skipSpaces()
        guard peek() == character else { throw failure("'\(character)'") }
        position += 1
    }

    mutating func consume(_ word: String) -> Bool {
        let letters = Array(word)
        guard position + letters.count <= characters.count,
              Array(characters[position..<(position + letters.count)]) == letters else { return false }
        position += letters.count
        return true
    }

    mutating func skipSpaces() {
        while let character = peek(), character == " " || character == "\n" { position += 1 }
    }

    func peek() -> Character? { position < characters.count ? characters[position] : nil }

    func failure(_ expected: String) -> DataFormatError {
        let found = peek().map { "'\($0)'" } ?? "the end of the header"
        return DataFormatError(file: file, location: "header character \(position)",
                               message: "expected \(expected), found \(found)")
    }
}
