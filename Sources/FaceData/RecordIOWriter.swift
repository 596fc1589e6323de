import Foundation

/// Writes <prefix>.rec/<prefix>.idx in InsightFace layout (record 0 header, images 1..N, identity records).
///
/// Record 0 (flag 2, labels [N+1, N+C+1]) has a fixed size, so it is reserved first and filled in by
/// `finish()`; the .idx lists keys in increasing order with their byte offsets, as MXNet's
/// `MXIndexedRecordIO` writes it.
public final class InsightFaceRecordWriter {
    public let recordURL: URL
    public let indexURL: URL
    private let record: AppendingFile
    private var offsets: [UInt64] = []
    /// First image key of each identity so far.
    private var identityStarts: [Int] = []
    private var finished = false
    private var reservedHeaderBytes = 0

    /// Keys and labels are stored as float32 in the headers; beyond 2^24 they would lose precision.
    private static let largestExactKey = 1 << 24

    public init(directory: URL, prefix: String = "train") throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        recordURL = directory.appendingPathComponent(prefix + ".rec")
        indexURL = directory.appendingPathComponent(prefix + ".idx")
        record = try AppendingFile(path: recordURL.path)
        try writeRecord(header: Self.headerRecord(imageCount: 0, identityCount: 0), image: Data())
        reservedHeaderBytes = Int(record.position)
    }

    /// Images must arrive grouped by label, labels 0,1,2,... in increasing order (throws otherwise).
    public func append(jpeg: Data, label: Int) throws {
        precondition(!finished, "append after finish")
        let expected = identityStarts.isEmpty ? 0...0 : (identityStarts.count - 1)...identityStarts.count
        guard expected.contains(label) else {
            throw DataFormatError(file: recordURL.path, location: "image \(offsets.count)",
                                  message: "labels must arrive grouped and in order 0, 1, 2, ...: expected "
                                      + (expected.count == 1 ? "\(expected.lowerBound)" : "\(expected.lowerBound) or \(expected.upperBound)")
                                      + ", found \(label)")
        }
        let key = offsets.count
        guard key + identityStarts.count + 2 < Self.largestExactKey else {
            throw DataFormatError(file: recordURL.path, location: "image \(key)",
                                  message: "more than 2^24 records: keys stored as float32 would lose precision")
        }
        if label == identityStarts.count { identityStarts.append(key) }
        try writeRecord(header: RecordHeader(label: Float(label), id: UInt64(key)), image: jpeg)
    }

    /// Writes the identity records, the header record 0 and the .idx.
    public func finish() throws {
        precondition(!finished, "finish called twice")
        finished = true
        let imageCount = offsets.count - 1
        let ends = identityStarts.dropFirst() + [imageCount + 1]
        for (start, end) in zip(identityStarts, ends) {
            let key = offsets.count
            try writeRecord(header: RecordHeader(labels: [Float(start), Float(end)], id: UInt64(key)), image: Data())
        }
        let header = Self.headerRecord(imageCount: imageCount, identityCount: identityStarts.count)
        let reservedBytes = try framed(header: header, image: Data())
        precondition(reservedBytes.count == reservedHeaderBytes, "header record 0 changed size")
        try record.overwrite(reservedBytes, at: 0)
        try record.flush()

        var index = ""
        for (key, offset) in offsets.enumerated() { index += "\(key)\t\(offset)\n" }
        do {
            try Data(index.utf8).write(to: indexURL)
        } catch {
            throw DataFormatError(file: indexURL.path, message: "cannot write the index (\(error.localizedDescription))")
        }
    }

    /// Images are keys 1...N; identity records follow them, so record 0 holds [N+1, N+C+1].
    private static func headerRecord(imageCount: Int, identityCount: Int) -> RecordHeader {
        RecordHeader(labels: [Float(imageCount + 1), Float(imageCount + identityCount + 1)], id: 0)
    }

    private func framed(header: RecordHeader, image: Data) throws -> [UInt8] {
        var payload: [UInt8] = []
        payload.reserveCapacity(header.byteCount + image.count)
        header.append(to: &payload)
        payload.append(contentsOf: image)
        var output: [UInt8] = []
        try payload.withUnsafeBytes { try RecordIO.frame($0, into: &output) }
        return output
    }

    private func writeRecord(header: RecordHeader, image: Data) throws {
        offsets.append(record.position)
        try record.write(try framed(header: header, image: image))
    }
}
