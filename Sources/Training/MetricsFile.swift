import Foundation

/// `metrics.csv`: one row per training step, `step,epoch,loss,lr,images_per_second` (lr is the LR the step
/// ran with). `haarface replay` reads it as a CSV log.
final class MetricsFile {
    static let header = "step,epoch,loss,lr,images_per_second\n"
    let url: URL
    private let handle: FileHandle
    private var pending = ""

    /// Opens the file for appending, first cutting it back to `truncatingTo` bytes when resuming.
    init(url: URL, truncatingTo size: UInt64?) throws {
        let manager = FileManager.default
        if size == nil || !manager.fileExists(atPath: url.path) {
            guard manager.createFile(atPath: url.path, contents: Data(Self.header.utf8)) else {
                throw ConfigError(file: url.path, message: "cannot create the metrics file")
            }
        }
        guard let handle = FileHandle(forUpdatingAtPath: url.path) else {
            throw ConfigError(file: url.path, message: "cannot open the metrics file")
        }
        if let size { try handle.truncate(atOffset: size) }
        try handle.seekToEnd()
        self.handle = handle
        self.url = url
    }

    // The trainer flushes at every checkpoint and at the end; this only covers a run stopped by an error.
    deinit { _ = try? flush(); try? handle.close() }

    /// Buffers one row, writing the buffer out once it passes 16 KiB (a failed write is an error: rows
    /// are not dropped silently). The speed is written to 0.01 images/s, as `recorded` rounds it.
    func append(step: Int, epoch: Int, loss: Double, learningRate: Double, imagesPerSecond: Double) throws {
        pending += "\(step),\(epoch),\(loss),\(learningRate),\(String(format: "%.2f", imagesPerSecond))\n"
        if pending.utf8.count > 1 << 14 { try flush() }
    }

    /// A speed as a row records it (to 0.01 images/s), so that other logs of the step can hold the same number.
    static func recorded(imagesPerSecond: Double) -> Double {
        Double(String(format: "%.2f", imagesPerSecond)) ?? imagesPerSecond
    }

    /// Writes buffered rows; returns the file's size afterwards. Rows that cannot be written whole (a full disk)
    /// are cut off again, so that the file still ends with a whole row, and stay buffered.
    @discardableResult
    func flush() throws -> UInt64 {
        if !pending.isEmpty {
            do { try AtomicFile.appendWhole(Data(pending.utf8), to: handle.fileDescriptor, url: url) } catch let error as CheckpointError {
                let rows = pending.utf8.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
                throw TrainingError(description: "\(url.path): cannot write \(rows) rows of metrics: \(error.reason); the file "
                                    + "ends with its last whole row; continue with --resume once that is fixed (a full disk: free some space)")
            }
            pending = ""
        }
        try handle.synchronize()
        return try handle.offset()
    }
}

/// One row of `metrics.csv`.
public struct MetricsRow: Equatable, Sendable {
    public var step: Int
    public var epoch: Int
    public var loss: Double
    public var learningRate: Double
    public var imagesPerSecond: Double

    /// Reads a `metrics.csv` the trainer wrote; a malformed row is an error naming the file and line.
    public static func read(_ url: URL) throws -> [MetricsRow] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ConfigError(file: url.path, message: "cannot read the metrics file")
        }
        var rows: [MetricsRow] = []
        for (index, line) in text.split(separator: "\n").enumerated() {
            if index == 0 {
                guard line + "\n" == MetricsFile.header else {
                    throw ConfigError(file: url.path, message: "line 1: expected the header \(MetricsFile.header.dropLast())")
                }
                continue
            }
            let fields = line.split(separator: ",")
            guard fields.count == 5, let step = Int(fields[0]), let epoch = Int(fields[1]), let loss = Double(fields[2]),
                  let learningRate = Double(fields[3]), let speed = Double(fields[4]) else {
                throw ConfigError(file: url.path, message: "line \(index + 1): expected step,epoch,loss,lr,images_per_second, found '\(line)'")
            }
            rows.append(MetricsRow(step: step, epoch: epoch, loss: loss, learningRate: learningRate, imagesPerSecond: speed))
        }
        return rows
    }
}
