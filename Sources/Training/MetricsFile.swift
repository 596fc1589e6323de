import Foundation

/// `metrics.csv`: one row per training step, `step,epoch,loss,lr,images_per_second` (lr is the LR the step
/// ran with). `haarface replay` reads it as a CSV log.
final class MetricsFile {
    static let header = "step,epoch,loss,lr,images_per_second\n"
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
    }

    // The trainer flushes at every checkpoint and at the end; this only covers a run stopped by an error.
    deinit { _ = try? flush(); try? handle.close() }

    /// Buffers one row, writing the buffer out once it passes 16 KiB (a failed write is an error: rows
    /// are not dropped silently).
    func append(step: Int, epoch: Int, loss: Double, learningRate: Double, imagesPerSecond: Double) throws {
        pending += "\(step),\(epoch),\(loss),\(learningRate),\(String(format: "%.2f", imagesPerSecond))\n"
        if pending.utf8.count > 1 << 14 { try flush() }
    }

    /// Writes buffered rows; returns the file's size afterwards.
    @discardableResult
    func flush() throws -> UInt64 {
        if !pending.isEmpty {
            try handle.write(contentsOf: Data(pending.utf8))
            pending = ""
        }
        try handle.synchronize()
        return try handle.offset()
    }
}
