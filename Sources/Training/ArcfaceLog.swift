import Foundation

/// Writes `training.log` exactly as arcface_torch does, so its tools (and `haarface replay`) read it:
/// every line is `Training: <asctime>-<message>` (logging's asctime, `2024-03-01 10:00:00,123`), and the
/// step lines are `Speed %.2f samples/sec   Loss %.4f   LearningRate %.6f   Epoch: %d   Global Step: %d
/// Required: %1.f hours` every `frequent` steps, the loss being the mean since the previous line. As in
/// arcface_torch's CallBackLogging, the first call at a multiple of `frequent` only starts the clock, so the
/// first line comes at step 2 x frequent and covers steps 1 ... 2 x frequent.
public final class ArcfaceLog {
    private let handle: FileHandle
    public let url: URL
    private let frequent: Int
    private let batchSize: Int
    private let totalSteps: Int
    private let echo: Bool
    private var lossSum = 0.0
    private var lossCount = 0
    private var clockStarted = false
    private var lastLineTime = 0.0
    private let startTime: Double
    private let startStep: Int

    /// Opens the log at `url` for appending; a resumed run passes the size the log had at its checkpoint,
    /// and lines written after it are cut off.
    public init(url: URL, frequent: Int, batchSize: Int, totalSteps: Int, startStep: Int = 0, truncatingTo size: UInt64? = nil,
                echo: Bool = true) throws {
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw ConfigError(file: url.path, message: "cannot create the training log")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: url.path) else {
            throw ConfigError(file: url.path, message: "cannot open the training log for writing")
        }
        if let size { try handle.truncate(atOffset: size) }
        try handle.seekToEnd()
        self.handle = handle
        self.url = url
        self.frequent = frequent
        self.batchSize = batchSize
        self.totalSteps = totalSteps
        self.echo = echo
        self.startStep = startStep
        startTime = Self.now()
    }

    deinit { try? handle.close() }

    /// The log's size in bytes (everything written so far is in the file).
    public var size: UInt64 { (try? handle.offset()) ?? 0 }

    /// Records the loss of `globalStep` (1-based) and writes a line when one is due.
    public func step(_ globalStep: Int, loss: Double, learningRate: Double, epoch: Int) throws {
        lossSum += loss
        lossCount += 1
        guard globalStep > 0, globalStep % frequent == 0 else { return }
        let now = Self.now()
        guard clockStarted else {
            clockStarted = true
            lastLineTime = now
            return
        }
        let elapsed = now - lastLineTime
        let speed = elapsed > 0 ? Double(frequent * batchSize) / elapsed : .infinity
        let secondsPerStep = Double(Int(now - startTime)) / Double(globalStep - startStep + 1)
        let hoursLeft = secondsPerStep * Double(totalSteps - globalStep - 1) / 3600
        let message = String(format: "Speed %.2f samples/sec   Loss %.4f   LearningRate %.6f   Epoch: %d   Global Step: %d   Required: %1.f hours",
                             speed, lossSum / Double(lossCount), learningRate, epoch, globalStep, hoursLeft)
        try write(message)
        lossSum = 0
        lossCount = 0
        lastLineTime = now
    }

    /// Any other line (configuration, events), with the same prefix. A line that cannot be written whole (a
    /// full disk) is cut off again, so that the log still ends with a whole line for replay, and stops the run.
    public func write(_ message: String) throws {
        let line = Data("Training: \(Self.asctime())-\(message)\n".utf8)
        do { try AtomicFile.appendWhole(line, to: handle.fileDescriptor, url: url) } catch let error as CheckpointError {
            throw TrainingError(description: "\(url.path): cannot write a line of the training log: \(error.reason); the log "
                                + "ends with its last whole line; continue with --resume once that is fixed (a full disk: free some space)")
        }
        if echo { FileHandle.standardOutput.write(line) }
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// Python logging's default asctime: local time, `%Y-%m-%d %H:%M:%S,mmm`.
    static func asctime(_ date: Date = Date()) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        let milliseconds = Int((date.timeIntervalSince1970 - Double(seconds)) * 1000)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d,%03d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), milliseconds)
    }
}
