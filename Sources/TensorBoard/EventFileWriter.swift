import Foundation
import SwiftProtobuf

/// Where a writer stands, for a resumed run: its file (in the log folder) and the file's size at the last flush.
public struct EventFileState: Codable, Equatable, Sendable {
    public var fileName: String
    public var bytes: UInt64

    public init(fileName: String, bytes: UInt64) {
        self.fileName = fileName
        self.bytes = bytes
    }
}

/// An event file that cannot be made, continued or written: names the file and what went wrong.
public struct EventFileError: Error, CustomStringConvertible {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }
}

/// One TensorBoard event file: a record of the file version, then one `Event` of scalar summaries per call to
/// `addScalars`, TFRecord-framed. Records are buffered and written once 16 KiB are waiting or the oldest has
/// waited `bufferSeconds`; `flush()` writes and syncs them. A failed write is an error, never a dropped record.
public final class EventFileWriter {
    /// What the first record of every event file says (TensorBoard's reader expects it).
    public static let fileVersion = "brain.Event:2"
    /// The longest a record waits in the buffer, so that a TensorBoard watching the run sees it:
    /// torch.utils.tensorboard.SummaryWriter's `flush_secs`.
    public static let bufferSeconds = 120.0
    static let bufferBytes = 1 << 14

    public let url: URL
    private let handle: FileHandle
    private var pending = Data()
    private var pendingSince: Double?

    private init(url: URL, handle: FileHandle) {
        self.url = url
        self.handle = handle
    }

    // Owners flush at their checkpoints and at the end; this only covers a run stopped by an error.
    deinit { _ = try? writePending(); try? handle.close() }

    /// A new event file in `directory` (made if missing), named as TensorBoard's own writer names them:
    /// `events.out.tfevents.<unix seconds, 10 digits>.<host name>.<process id>.<n>`, n the first number free.
    /// Its first record holds the file version and `writer`, at `wallTime` (seconds since 1970).
    public static func create(in directory: URL, writer: String, wallTime: Double = currentTime()) throws -> EventFileWriter {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw EventFileError(file: directory.path, message: "cannot make the TensorBoard log folder (\(error))")
        }
        let stem = String(format: "events.out.tfevents.%010lld.%@.%d", Int64(wallTime.rounded(.down)), hostName,
                          ProcessInfo.processInfo.processIdentifier)
        var suffix = 0
        while true {
            let url = directory.appendingPathComponent("\(stem).\(suffix)")
            let descriptor = open(url.path, O_RDWR | O_CREAT | O_EXCL, 0o644)
            if descriptor >= 0 {
                let file = EventFileWriter(url: url, handle: FileHandle(fileDescriptor: descriptor, closeOnDealloc: true))
                var event = Tensorboard_Event()
                event.wallTime = wallTime
                event.fileVersion = fileVersion
                event.sourceMetadata.writer = writer
                try file.append(event, wallTime: wallTime)
                try file.flush()
                return file
            }
            guard errno == EEXIST else {
                throw EventFileError(file: url.path, message: "cannot create the event file: \(String(cString: strerror(errno)))")
            }
            suffix += 1
        }
    }

    /// Continues the file `state` names in `directory`: cut back to `state.bytes` (what a checkpoint saw), so
    /// that records written after the checkpoint are not kept twice, then appended to. A file that is missing
    /// or shorter than `state.bytes` is an error.
    public static func reopen(_ state: EventFileState, in directory: URL) throws -> EventFileWriter {
        let url = directory.appendingPathComponent(state.fileName)
        guard let handle = FileHandle(forUpdatingAtPath: url.path) else {
            throw EventFileError(file: url.path, message: "cannot open the event file to continue it")
        }
        do {
            let size = try handle.seekToEnd()
            guard size >= state.bytes else {
                try? handle.close()
                throw EventFileError(file: url.path, message: "the event file has \(size) bytes, fewer than the \(state.bytes) it had at the checkpoint")
            }
            try handle.truncate(atOffset: state.bytes)
            try handle.seekToEnd()
        } catch let error as EventFileError {
            throw error
        } catch {
            throw EventFileError(file: url.path, message: "cannot cut the event file back to \(state.bytes) bytes (\(error))")
        }
        return EventFileWriter(url: url, handle: handle)
    }

    /// Buffers one event at `step` holding `scalars` (TensorBoard's `simple_value`s) under their tags.
    public func addScalars(_ scalars: [(tag: String, value: Float)], step: Int, wallTime: Double = currentTime()) throws {
        var event = Tensorboard_Event()
        event.wallTime = wallTime
        event.step = Int64(step)
        event.summary.value = scalars.map { tag, value in
            var summaryValue = Tensorboard_Summary.Value()
            summaryValue.tag = tag
            summaryValue.simpleValue = value
            return summaryValue
        }
        try append(event, wallTime: wallTime)
    }

    /// Writes the buffered records and syncs the file; returns where it stands (the state a resumed run continues).
    @discardableResult
    public func flush() throws -> EventFileState {
        try writePending()
        do {
            try handle.synchronize()
            return EventFileState(fileName: url.lastPathComponent, bytes: try handle.offset())
        } catch {
            throw EventFileError(file: url.path, message: "cannot sync the event file (\(error))")
        }
    }

    private func append(_ event: Tensorboard_Event, wallTime: Double) throws {
        let data: Data
        do { data = try event.serializedData() } catch {
            throw EventFileError(file: url.path, message: "cannot encode an event (\(error))")
        }
        TFRecord.append(data, to: &pending)
        let since = pendingSince ?? wallTime
        pendingSince = since
        if pending.count >= Self.bufferBytes || wallTime - since >= Self.bufferSeconds { try writePending() }
    }

    private func writePending() throws {
        guard !pending.isEmpty else { return }
        do { try handle.write(contentsOf: pending) } catch {
            throw EventFileError(file: url.path, message: "cannot write \(pending.count) bytes of events (\(error))")
        }
        pending.removeAll(keepingCapacity: true)
        pendingSince = nil
    }

    /// Seconds since 1970, the events' wall time.
    public static func currentTime() -> Double { Date().timeIntervalSince1970 }

    /// This machine's name, as Python's socket.gethostname() gives it.
    static let hostName: String = {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "localhost" }
        return String(cString: name)
    }()
}
