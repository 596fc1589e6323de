import Foundation

/// The RecordIO container of dmlc-core/MXNet (`.rec`): records framed by a magic word and a length,
/// padded to 4 bytes; a payload in which the magic word occurs at an aligned offset is split into
/// parts (cflag 1 first, 2 middle, 3 last) and the reader re-inserts the magic between the parts.
public enum RecordIO {
    /// The magic word, little-endian on disk.
    public static let magic: UInt32 = 0xCED7_230A
    static let magicBytes: [UInt8] = [0x0A, 0x23, 0xD7, 0xCE]

    /// Frames `payload` as one logical record, split where the magic word occurs at an aligned offset.
    static func frame(_ payload: UnsafeRawBufferPointer, into output: inout [UInt8]) throws {
        guard payload.count < 1 << 29 else {
            throw DataFormatError(file: "record", message: "a record must be under 512 MiB, found \(payload.count) bytes")
        }
        let bytes = payload.bindMemory(to: UInt8.self)
        var partStart = 0
        var offset = 0
        while offset + 4 <= payload.count {
            if bytes[offset] == 0x0A, bytes[offset + 1] == 0x23, bytes[offset + 2] == 0xD7, bytes[offset + 3] == 0xCE {
                appendPartHeader(cflag: partStart == 0 ? 1 : 2, length: offset - partStart, into: &output)
                output.append(contentsOf: bytes[partStart..<offset])
                partStart = offset + 4
            }
            offset += 4
        }
        appendPartHeader(cflag: partStart == 0 ? 0 : 3, length: payload.count - partStart, into: &output)
        output.append(contentsOf: bytes[partStart..<payload.count])
        let padding = (4 - payload.count % 4) % 4
        output.append(contentsOf: repeatElement(0, count: padding))
    }

    private static func appendPartHeader(cflag: UInt32, length: Int, into output: inout [UInt8]) {
        output.appendLittleEndian(magic)
        output.appendLittleEndian(cflag << 29 | UInt32(length))
    }

    /// Reads the logical record whose first part starts at `offset`, joining multi-part records.
    /// `what` names the record in errors.
    static func readRecord(from file: PositionalFile, at offset: UInt64, what: String) throws -> Data {
        var payload = Data()
        var position = offset
        var part = 0
        while true {
            guard position + 8 <= file.size else {
                throw DataFormatError(file: file.path, location: what,
                                      message: "file truncated: a record header needs 8 bytes at byte \(position), "
                                          + "the file has \(file.size) bytes")
            }
            let header = try file.readExactly(8, at: position, what: what)
            let magic = header.littleEndian(UInt32.self, at: 0)
            guard magic == Self.magic else {
                throw DataFormatError(file: file.path, location: what,
                                      message: String(format: "wrong magic number at byte %llu: expected 0xCED7230A, found 0x%08X",
                                                      position, magic)
                                          + " (not a RecordIO file, or the .idx offset is wrong)")
            }
            let lrec = header.littleEndian(UInt32.self, at: 4)
            let cflag = lrec >> 29
            let length = Int(lrec & (1 << 29 - 1))
            let expected: ClosedRange<UInt32> = part == 0 ? 0...1 : 2...3
            guard expected.contains(cflag) else {
                throw DataFormatError(file: file.path, location: what,
                                      message: "part \(part) at byte \(position) has cflag \(cflag), expected "
                                          + (part == 0 ? "0 (whole) or 1 (first part)" : "2 (middle) or 3 (last part)"))
            }
            guard position + 8 + UInt64(length) <= file.size else {
                throw DataFormatError(file: file.path, location: what,
                                      message: "file truncated: part \(part) needs \(length) bytes at byte \(position + 8), "
                                          + "the file has \(file.size) bytes")
            }
            if part > 0 { payload.append(contentsOf: magicBytes) }
            payload.append(try file.readExactly(length, at: position + 8, what: what))
            position += 8 + UInt64((length + 3) / 4 * 4)
            part += 1
            if cflag == 0 || cflag == 3 { return payload }
        }
    }
}

/// The 24-byte header that MXNet's `recordio.pack` puts before an image: uint32 flag, float32 label,
/// uint64 id, uint64 id2, then `flag` float32 labels when flag > 0 (the scalar label is then unused).
public struct RecordHeader: Equatable, Sendable {
    public var flag: UInt32
    public var label: Float
    public var id: UInt64
    public var id2: UInt64
    /// The `flag` extra labels (empty when flag is 0).
    public var labels: [Float]

    public init(label: Float, id: UInt64, id2: UInt64 = 0) {
        self.flag = 0
        self.label = label
        self.id = id
        self.id2 = id2
        self.labels = []
    }

    public init(labels: [Float], id: UInt64, id2: UInt64 = 0) {
        self.flag = UInt32(labels.count)
        self.label = 0
        self.id = id
        self.id2 = id2
        self.labels = labels
    }

    /// The number of bytes the header takes in a payload.
    public var byteCount: Int { 24 + 4 * labels.count }

    /// The class label as arcface_torch reads it: the scalar label, or the first extra label.
    public var classLabel: Float { labels.first ?? label }

    func append(to output: inout [UInt8]) {
        output.appendLittleEndian(flag)
        output.appendLittleEndian(label)
        output.appendLittleEndian(id)
        output.appendLittleEndian(id2)
        for value in labels { output.appendLittleEndian(value) }
    }

    /// Parses the header at the start of `payload`; `file` and `what` name the record in errors.
    static func parse(_ payload: Data, file: String, what: String) throws -> RecordHeader {
        guard payload.count >= 24 else {
            throw DataFormatError(file: file, location: what,
                                  message: "payload of \(payload.count) bytes is shorter than the 24-byte image header")
        }
        let flag = payload.littleEndian(UInt32.self, at: 0)
        guard Int(flag) <= (payload.count - 24) / 4 else {
            throw DataFormatError(file: file, location: what,
                                  message: "header flag \(flag) announces \(flag) extra labels (\(4 * Int(flag)) bytes) "
                                      + "but only \(payload.count - 24) bytes follow the header")
        }
        var header = RecordHeader(label: Float(bitPattern: payload.littleEndian(UInt32.self, at: 4)),
                                  id: payload.littleEndian(UInt64.self, at: 8),
                                  id2: payload.littleEndian(UInt64.self, at: 16))
        header.flag = flag
        header.labels = (0..<Int(flag)).map { Float(bitPattern: payload.littleEndian(UInt32.self, at: 24 + 4 * $0)) }
        return header
    }
}
