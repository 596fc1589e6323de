import Foundation

/// A loss that a training run logged: the mean over the steps since the previous logged line.
public struct LoggedLoss: Equatable, Sendable {
    /// The global step (1-based) of the line; the line covers steps `previous.step + 1 ... step`.
    public var step: Int
    public var loss: Double
    /// The learning rate the log reports for this line, where it reports one.
    public var learningRate: Double?
    /// The epoch the log reports for this line (arcface_torch's `Epoch: N`, a CSV's `epoch` column).
    public var epoch: Int?

    public init(step: Int, loss: Double, learningRate: Double? = nil, epoch: Int? = nil) {
        self.step = step
        self.loss = loss
        self.learningRate = learningRate
        self.epoch = epoch
    }
}

/// A file that is not a training log we can read: names the file, the line (1-based) and what was wrong.
public struct TrainingLogError: Error, CustomStringConvertible {
    public var source: String
    public var line: Int?
    public var reason: String

    public var description: String {
        if let line { return "\(source):\(line): \(reason)" }
        return "\(source): \(reason)"
    }
}

/// The losses of a recorded training run, read from an arcface_torch / FastFace `training.log` or a CSV.
///
/// - arcface_torch lines look like `Training: ...-Speed 1.0 samples/sec   Loss 42.1   LearningRate 0.100000
///   Epoch: 0   Global Step: 20 ...`; the loss is the mean since the previous line. Other lines are ignored.
/// - A CSV has a header with a `loss` column and optionally a `step` column; without `step`, row k is step k.
public struct TrainingLog: Sendable {
    public enum Format: String, Sendable { case arcface, csv }

    public var source: String
    public var format: Format
    /// Strictly increasing steps.
    public var entries: [LoggedLoss]

    /// The last step the log covers (0 for an empty log).
    public var lastStep: Int { entries.last?.step ?? 0 }

    /// The largest step a log may name: a replay visits every step up to the last, so a corrupt step number
    /// (10^15) would run for days. Ten million is five times WebFace12M's 20 epochs at batch 128 on one GPU.
    public static let maximumStep = 10_000_000

    public init(source: String, format: Format, entries: [LoggedLoss]) {
        self.source = source
        self.format = format
        self.entries = entries
    }

    /// Reads and parses a log file; the format is told by its first non-empty line.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try readWholeFile(url.path)
        } catch let reason as POSIXReason {
            throw TrainingLogError(source: url.path, line: nil, reason: "cannot read the file (\(reason.text))")
        }
        try self.init(bytes: data, source: url.path)
    }

    /// Parses log text held in memory; `source` names it in errors.
    public init(bytes: Data, source: String) throws {
        // strtod needs a terminator after the last number: parse a copy that ends in NUL.
        var buffer = [UInt8](bytes)
        buffer.append(0)
        let parsed = try buffer.withUnsafeBufferPointer { try LogScanner(bytes: $0, source: source).parse() }
        guard !parsed.entries.isEmpty else {
            let expected = parsed.format == .csv
                ? "a CSV header with a 'loss' column and at least one row"
                : "lines with 'Loss <x>' and 'Global Step: <n>' (arcface_torch's training.log), or a CSV with a 'loss' column"
            throw TrainingLogError(source: source, line: nil, reason: "no losses found: expected \(expected)")
        }
        self.init(source: source, format: parsed.format, entries: parsed.entries)
    }

    /// Calls `startsEpoch(step)` before the first step of every line whose epoch differs from the previous
    /// line's (at the interval's first step: a log that is not per step does not say where in the interval the
    /// boundary fell), then `body(step, loss)` for every step as `forEachStep` does.
    public func forEachStep(startingEpoch startsEpoch: (_ step: Int) throws -> Void,
                            _ body: (_ step: Int, _ loss: Double) throws -> Void) rethrows {
        var step = 0
        var epoch = entries.first?.epoch
        for entry in entries {
            if let next = entry.epoch, let current = epoch, next != current { try startsEpoch(step + 1) }
            epoch = entry.epoch ?? epoch
            while step < entry.step {
                step += 1
                try body(step, entry.loss)
            }
        }
    }

    /// Calls `body(step, loss)` for every step from 1 to `lastStep`, each logged mean repeated for every
    /// step of the interval it covers.
    public func forEachStep(_ body: (_ step: Int, _ loss: Double) throws -> Void) rethrows {
        var step = 0
        for entry in entries {
            while step < entry.step {
                step += 1
                try body(step, entry.loss)
            }
        }
    }
}

/// The text of a failed system call's errno.
struct POSIXReason: Error {
    var text: String
    init(errno code: Int32) { text = String(cString: strerror(code)) }
}

/// Reads a whole file with POSIX calls, so that a failure says why (Foundation's message does not).
func readWholeFile(_ path: String) throws -> Data {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { throw POSIXReason(errno: errno) }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw POSIXReason(errno: errno) }
    if (status.st_mode & S_IFMT) == S_IFDIR { throw POSIXReason(errno: EISDIR) }
    var data = Data()
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw POSIXReason(errno: errno)
        }
        if count == 0 { return data }
        data.append(contentsOf: chunk[0 ..< count])
    }
}

/// A byte-level scanner: fast enough to read a 200,000-line log in a few tens of milliseconds.
private struct LogScanner {
    let bytes: UnsafeBufferPointer<UInt8>   // ends with a NUL byte
    let source: String

    func parse() throws -> (format: TrainingLog.Format, entries: [LoggedLoss]) {
        var lines = LineIterator(bytes: bytes)
        // The first non-empty line tells the format.
        while let line = lines.next() {
            if line.isBlank(in: bytes) { continue }
            if let columns = csvColumns(line) {
                return (.csv, try parseCSV(columns: columns, lines: &lines))
            }
            var arcface = LineIterator(bytes: bytes)
            return (.arcface, try parseArcface(lines: &arcface))
        }
        return (.arcface, [])
    }

    // MARK: arcface_torch training.log

    private func parseArcface(lines: inout LineIterator) throws -> [LoggedLoss] {
        var entries: [LoggedLoss] = []
        var previousLine = 0
        while let line = lines.next() {
            guard let lossAt = find("Loss ", in: line), let stepAt = find("Global Step:", in: line) else { continue }
            guard let loss = number(after: lossAt, in: line) else {
                throw error(line, "expected a number after 'Loss'")
            }
            guard let stepValue = number(after: stepAt, in: line), let step = Int(exactly: stepValue), step >= 1 else {
                throw error(line, "expected a positive whole number after 'Global Step:'")
            }
            try checkBound(step, line)
            let learningRate = find("LearningRate ", in: line).flatMap { number(after: $0, in: line) }
            let epoch = find("Epoch: ", in: line).flatMap { number(after: $0, in: line) }.flatMap { Int(exactly: $0) }
            if let last = entries.last, step <= last.step {
                throw error(line, "step \(step) does not come after step \(last.step) of line \(previousLine)"
                    + " (a log holding several runs? keep one run per file)")
            }
            entries.append(LoggedLoss(step: step, loss: loss, learningRate: learningRate, epoch: epoch))
            previousLine = line.number
        }
        return entries
    }

    // MARK: CSV

    private struct Columns {
        var count: Int
        var loss: Int
        var step: Int?
        var learningRate: Int?
        var epoch: Int?
    }

    /// The header's columns, if this line is a CSV header with a `loss` column.
    private func csvColumns(_ line: Line) -> Columns? {
        let names = fields(of: line).map { field in
            String(decoding: UnsafeBufferPointer(rebasing: bytes[field]), as: UTF8.self)
                .trimmingCharacters(in: CharacterSet(charactersIn: " \t\"")).lowercased()
        }
        guard let loss = names.firstIndex(of: "loss") else { return nil }
        return Columns(count: names.count, loss: loss, step: names.firstIndex(of: "step"),
                       learningRate: names.firstIndex(of: "lr") ?? names.firstIndex(of: "learning_rate"),
                       epoch: names.firstIndex(of: "epoch"))
    }

    private func parseCSV(columns: Columns, lines: inout LineIterator) throws -> [LoggedLoss] {
        var entries: [LoggedLoss] = []
        var row = 0
        while let line = lines.next() {
            if line.isBlank(in: bytes) { continue }
            row += 1
            let cells = fields(of: line)
            guard cells.count == columns.count else {
                throw error(line, "expected \(columns.count) comma-separated fields as in the header, found \(cells.count)")
            }
            guard let loss = wholeNumber(cells[columns.loss]) else {
                throw error(line, "the 'loss' field is not a number: '\(text(cells[columns.loss]))'")
            }
            var step = (entries.last?.step ?? 0) + 1
            if let stepColumn = columns.step {
                guard let value = wholeNumber(cells[stepColumn]), let whole = Int(exactly: value), whole >= 1 else {
                    throw error(line, "the 'step' field is not a positive whole number: '\(text(cells[stepColumn]))'")
                }
                if let last = entries.last, whole <= last.step {
                    throw error(line, "step \(whole) does not come after step \(last.step)")
                }
                step = whole
            }
            try checkBound(step, line)
            let learningRate = columns.learningRate.flatMap { wholeNumber(cells[$0]) }
            let epoch = columns.epoch.flatMap { wholeNumber(cells[$0]) }.flatMap { Int(exactly: $0) }
            entries.append(LoggedLoss(step: step, loss: loss, learningRate: learningRate, epoch: epoch))
        }
        return entries
    }

    private func fields(of line: Line) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = line.range.lowerBound
        for index in line.range where bytes[index] == UInt8(ascii: ",") {
            result.append(start ..< index)
            start = index + 1
        }
        result.append(start ..< line.range.upperBound)
        return result
    }

    /// The field as a number, if the whole field (less surrounding blanks and quotes) is one.
    private func wholeNumber(_ field: Range<Int>) -> Double? {
        var field = field
        while let first = field.first, isBlankOrQuote(bytes[first]) { field = field.dropFirst() }
        while let last = field.last, isBlankOrQuote(bytes[last]) { field = field.dropLast() }
        guard !field.isEmpty, let (value, end) = strtodAt(field.lowerBound), end == field.upperBound else { return nil }
        return value
    }

    // MARK: helpers

    private func checkBound(_ step: Int, _ line: Line) throws {
        guard step <= TrainingLog.maximumStep else {
            throw error(line, "step \(step) is past the largest a log may name (\(TrainingLog.maximumStep))")
        }
    }

    private func number(after match: Int, in line: Line) -> Double? {
        guard let (value, end) = strtodAt(match), end <= line.range.upperBound else { return nil }
        return value
    }

    private func strtodAt(_ index: Int) -> (Double, Int)? {
        let start = bytes.baseAddress! + index
        var end: UnsafeMutablePointer<CChar>?
        let value = start.withMemoryRebound(to: CChar.self, capacity: 1) { strtod($0, &end) }
        guard let end else { return nil }
        let consumed = UnsafeRawPointer(end) - UnsafeRawPointer(start)
        return consumed > 0 ? (value, index + consumed) : nil
    }

    /// The index just past `needle` in the line, if it occurs.
    private func find(_ needle: StaticString, in line: Line) -> Int? {
        // glibc's memmem is not visible to Swift without _GNU_SOURCE: memchr for the first byte, then compare.
        let length = needle.utf8CodeUnitCount
        let first = Int32(needle.utf8Start.pointee)
        let base = bytes.baseAddress!
        var start = line.range.lowerBound
        while line.range.upperBound - start >= length {
            guard let hit = memchr(base + start, first, line.range.upperBound - start - length + 1) else { return nil }
            let index = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
            if memcmp(base + index, needle.utf8Start, length) == 0 { return index + length }
            start = index + 1
        }
        return nil
    }

    private func text(_ field: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[field]), as: UTF8.self)
    }

    private func isBlankOrQuote(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\"")
    }

    private func error(_ line: Line, _ reason: String) -> TrainingLogError {
        TrainingLogError(source: source, line: line.number, reason: reason)
    }
}

/// A line of the buffer: its byte range (without the line break) and its 1-based number.
private struct Line {
    var range: Range<Int>
    var number: Int

    func isBlank(in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        range.allSatisfy { bytes[$0] == UInt8(ascii: " ") || bytes[$0] == UInt8(ascii: "\t") }
    }
}

private struct LineIterator {
    let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0
    private var number = 0
    private let end: Int

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        self.end = bytes.count - 1   // the trailing NUL is not text
    }

    mutating func next() -> Line? {
        guard position < end else { return nil }
        let start = position
        let newline = memchr(bytes.baseAddress! + start, Int32(UInt8(ascii: "\n")), end - start)
        var stop = newline.map { UnsafeRawPointer($0) - UnsafeRawPointer(bytes.baseAddress!) } ?? end
        position = stop + 1
        if stop > start, bytes[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
        number += 1
        return Line(range: start ..< stop, number: number)
    }
}
