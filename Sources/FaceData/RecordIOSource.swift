import Foundation

/// Images in a RecordIO `.rec` + `.idx` pair, read by positional reads (never loaded whole), safe to
/// read from many threads at once.
///
/// Two layouts are recognised: InsightFace's (record 0 has flag > 0, labels [N+1, N+C+1] and no image:
/// images are keys 1...N, C identities) and im2rec's header-less one (every key in the .idx is an image).
/// Opening scans every image's 24-byte header (a few bytes each) to learn and check the labels.
public final class RecordIOSource: ImageSource, Sendable {
    public enum Layout: Equatable, Sendable {
        /// Header record 0 present: images are keys 1...N; `identityCount` from record 0.
        case insightFace(identityCount: Int)
        /// No header record: every key of the .idx is an image, classes = largest label + 1.
        case headerless
    }

    public let recordURL: URL
    public let indexURL: URL
    public let layout: Layout
    public let classCount: Int
    private let file: PositionalFile
    /// Per image, in key order.
    private let keys: [Int]
    private let offsets: [UInt64]
    private let labels: [Int32]

    public var count: Int { keys.count }

    /// Opens `recordURL` with its index (by default the same path ending in `.idx`).
    public init(recordURL: URL, indexURL: URL? = nil) throws {
        let indexURL = indexURL ?? recordURL.deletingPathExtension().appendingPathExtension("idx")
        self.recordURL = recordURL
        self.indexURL = indexURL
        let file = try PositionalFile(path: recordURL.path)
        self.file = file
        let index = try Self.readIndex(indexURL, recordSize: file.size, recordPath: recordURL.path)

        var imageKeys: [Int]
        var declaredClasses: Int?
        var layout = Layout.headerless
        if let headerOffset = index[0] {
            let payload = try RecordIO.readRecord(from: file, at: headerOffset, what: "record 0")
            let header = try RecordHeader.parse(payload, file: recordURL.path, what: "record 0")
            // InsightFace's header carries no image; an im2rec record 0 with several labels does.
            if header.flag > 0, header.labels.count >= 2, payload.count == header.byteCount {
                let firstIdentity = header.labels[0], end = header.labels[1]
                guard let imageEnd = Int(exactly: firstIdentity), let identityEnd = Int(exactly: end),
                      imageEnd >= 1, identityEnd >= imageEnd else {
                    throw DataFormatError(file: recordURL.path, location: "record 0",
                                          message: "InsightFace header labels must be integers [N+1, N+C+1], found \(header.labels)")
                }
                guard imageEnd - 1 < index.count else {
                    throw DataFormatError(file: recordURL.path, location: "record 0",
                                          message: "the header declares \(imageEnd - 1) images but \(indexURL.lastPathComponent) "
                                              + "lists only \(index.count) records")
                }
                layout = .insightFace(identityCount: identityEnd - imageEnd)
                declaredClasses = identityEnd - imageEnd
                imageKeys = Array(1..<imageEnd)   // each looked up in the index below
            } else {
                imageKeys = index.keys.sorted()
            }
        } else {
            imageKeys = index.keys.sorted()
        }
        self.layout = layout

        var labels: [Int32] = []
        labels.reserveCapacity(imageKeys.count)
        var offsets: [UInt64] = []
        offsets.reserveCapacity(imageKeys.count)
        var largest = -1
        // One lookup each: a large index is far from the caches.
        let imageOffsets = try imageKeys.map { key in
            guard let offset = index[key] else {
                throw DataFormatError(file: indexURL.path, message: "record 0 declares images 1...\(imageKeys.count) "
                                          + "but key \(key) is not in the index")
            }
            return offset
        }
        // Records in file order (as the packers write them) are scanned through a window of several MiB, one
        // read per window instead of one per record.
        let ascending = zip(imageOffsets, imageOffsets.dropFirst()).allSatisfy { $0 < $1 }
        var heads = RecordHeads(file, window: ascending ? 4 << 20 : Self.headBytes)
        for (key, offset) in zip(imageKeys, imageOffsets) {
            let label = try Self.scanLabel(file, at: offset, key: key, heads: &heads)
            if let declaredClasses, label >= declaredClasses {
                throw DataFormatError(file: recordURL.path, location: "record \(key)",
                                      message: "label \(label) outside the class range 0..<\(declaredClasses) declared by record 0")
            }
            largest = max(largest, label)
            labels.append(Int32(label))
            offsets.append(offset)
        }
        guard !imageKeys.isEmpty else {
            throw DataFormatError(file: recordURL.path, message: "no images (the index lists none)")
        }
        self.keys = imageKeys
        self.offsets = offsets
        self.labels = labels
        self.classCount = declaredClasses ?? (largest + 1)
    }

    public func label(at index: Int) throws -> Int { Int(labels[index]) }

    public func encodedImage(at index: Int) throws -> Data {
        try record(at: index).image
    }

    /// The header and image bytes of image `index`.
    public func record(at index: Int) throws -> (header: RecordHeader, image: Data) {
        let what = "record \(keys[index])"
        let payload = try RecordIO.readRecord(from: file, at: offsets[index], what: what)
        let header = try RecordHeader.parse(payload, file: recordURL.path, what: what)
        return (header, payload.subdata(in: (payload.startIndex + header.byteCount)..<payload.endIndex))
    }

    public func describe(_ index: Int) -> String { "\(recordURL.path) record \(keys[index])" }

    /// The `.idx` at `url`, one "key<TAB>offset" line per record in any order: each record's key and byte offset
    /// in the `.rec` of `recordSize` bytes at `recordPath`.
    public static func readIndex(_ url: URL, recordSize: UInt64, recordPath: String) throws -> [Int: UInt64] {
        let file: PositionalFile
        do {
            file = try PositionalFile(path: url.path)
        } catch {
            throw DataFormatError(file: url.path, message: "cannot open the index; a .rec needs its .idx next to it")
        }
        let bytes = [UInt8](try file.readExactly(Int(file.size), at: 0, what: "index"))
        // Scanned byte by byte without allocating per line: a WebFace12M-sized index (12 million lines) parses in
        // 2.5 s, where splitting it into strings took 5.3 s (FaceDataBenchmark).
        var index: [Int: UInt64] = [:]
        index.reserveCapacity(bytes.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } + 1)
        try bytes.withUnsafeBufferPointer { text in
            var lineNumber = 0, lineStart = 0
            while lineStart < text.count {
                var lineEnd = lineStart
                while lineEnd < text.count && text[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                defer { lineStart = lineEnd + 1 }
                lineNumber += 1
                func refuse() -> DataFormatError {
                    let shown = String(decoding: UnsafeBufferPointer(rebasing: text[lineStart..<min(lineEnd, lineStart + 80)]), as: UTF8.self)
                    return DataFormatError(file: url.path, location: "line \(lineNumber)",
                                           message: "expected \"key<TAB>byte offset\", found \"\(shown)\"")
                }
                // Fields are separated by tabs, spaces or carriage returns; a line has none (blank) or two.
                func isSeparator(_ byte: UInt8) -> Bool {
                    byte == UInt8(ascii: "\t") || byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\r")
                }
                var position = lineStart
                var found = 0, first = 0..<0, second = 0..<0
                while position < lineEnd {
                    while position < lineEnd && isSeparator(text[position]) { position += 1 }
                    guard position < lineEnd else { break }
                    let fieldStart = position
                    while position < lineEnd && !isSeparator(text[position]) { position += 1 }
                    found += 1
                    if found == 1 { first = fieldStart..<position } else if found == 2 { second = fieldStart..<position }
                }
                if found == 0 { continue }
                guard found == 2, let key = Self.decimal(text, first), let offset = Self.decimal(text, second),
                      let signedKey = Int(exactly: key) else { throw refuse() }
                guard recordSize >= 8, offset <= recordSize - 8 else {
                    throw DataFormatError(file: url.path, location: "line \(lineNumber)",
                                          message: "offset \(offset) of key \(key) is past the end of \(recordPath) "
                                              + "(\(recordSize) bytes): the .idx does not belong to this .rec, or the .rec is truncated")
                }
                guard index.updateValue(offset, forKey: signedKey) == nil else {
                    throw DataFormatError(file: url.path, location: "line \(lineNumber)", message: "key \(key) appears twice")
                }
            }
        }
        return index
    }

    /// The unsigned decimal number `text[digits]` spells, if it is one that fits 64 bits.
    private static func decimal(_ text: UnsafeBufferPointer<UInt8>, _ digits: Range<Int>) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for position in digits {
            let byte = text[position]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow, !carry else { return nil }
            value = sum
        }
        return value
    }

    /// The class label of the record at `offset`, read from its first bytes when they hold it.
    static func scanLabel(_ file: PositionalFile, at offset: UInt64, key: Int, heads: inout RecordHeads) throws -> Int {
        let what = "record \(key)"
        let head = try heads.bytes(at: offset, count: headBytes)
        let got = head.count
        var value: Float?
        if got >= 8 + 24, head.littleEndian(UInt32.self, at: 0) == RecordIO.magic {
            let lrec = head.littleEndian(UInt32.self, at: 4)
            let cflag = lrec >> 29, length = Int(lrec & (1 << 29 - 1))
            guard offset + 8 + UInt64(length) <= file.size else {
                throw DataFormatError(file: file.path, location: what,
                                      message: "file truncated: the record needs \(length) bytes at byte \(offset + 8), "
                                          + "the file has \(file.size) bytes")
            }
            let flag = Int(head.littleEndian(UInt32.self, at: 8))
            let whole = cflag == 0 && 24 + 4 * flag <= length
            let firstPart = cflag == 1 && length >= 28
            if flag == 0, whole || firstPart {
                value = Float(bitPattern: head.littleEndian(UInt32.self, at: 12))
            } else if flag > 0, got >= 8 + 28, whole || firstPart {
                value = Float(bitPattern: head.littleEndian(UInt32.self, at: 32))
            }
        }
        // Otherwise read the whole record: it reports a wrong magic, a truncation or a bad flag precisely.
        let label = try value ?? RecordHeader.parse(try RecordIO.readRecord(from: file, at: offset, what: what),
                                                   file: file.path, what: what).classLabel
        guard label >= 0, label < Float(Int32.max), label == label.rounded() else {
            throw DataFormatError(file: file.path, location: what, message: "label \(label) is not a class index (a non-negative integer)")
        }
        return Int(label)
    }
}

extension RecordIOSource {
    /// A record's first bytes: its 8-byte frame and the 28 of the header that hold a label.
    static let headBytes = 8 + 28
}

/// The first bytes of records read through a window of `window` bytes of the file: records met in file order
/// share one read per window. Near the end of the file a record's head may be shorter than asked.
struct RecordHeads {
    private let file: PositionalFile
    private let window: Int
    private var buffer = Data()
    private var start: UInt64 = 0

    init(_ file: PositionalFile, window: Int) {
        self.file = file
        self.window = window
    }

    mutating func bytes(at offset: UInt64, count: Int) throws -> Data {
        let end = start + UInt64(buffer.count)
        let inside = offset >= start && offset < end && (offset + UInt64(count) <= end || end == file.size)
        if !inside {
            let length = Int(min(UInt64(max(window, count)), file.size - min(offset, file.size)))
            buffer = Data(count: length)
            let got = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: offset) }
            buffer.removeSubrange(got...)
            start = offset
        }
        let from = Int(offset - start)
        return Data(buffer[buffer.startIndex + from ..< buffer.startIndex + min(buffer.count, from + count)])
    }
}
