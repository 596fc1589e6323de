import Foundation

/// Keeps one checkpoint folder of a run safe from crashes: a new checkpoint is written whole into
/// `<name>.partial/` (each file fsynced), then swapped in by two renames. The previous checkpoint stays
/// complete on disk until the new one is: at every instant, `<name>/` or `<name>.previous/` holds a whole one.
public struct CheckpointStore: Sendable {
    public let directory: URL
    public let name: String

    public init(directory: URL, name: String = "checkpoint") {
        self.directory = directory
        self.name = name
    }

    private var current: URL { directory.appendingPathComponent(name) }
    private var previous: URL { directory.appendingPathComponent(name + ".previous") }
    private var partial: URL { directory.appendingPathComponent(name + ".partial") }

    /// Writes the files of a checkpoint (file name -> contents) and makes them the current checkpoint.
    public func write(_ files: [String: Data]) throws {
        let manager = FileManager.default
        try? manager.removeItem(at: partial)
        try manager.createDirectory(at: partial, withIntermediateDirectories: true)
        for (fileName, contents) in files.sorted(by: { $0.key < $1.key }) {
            try AtomicFile.writeDurably(contents, to: partial.appendingPathComponent(fileName))
        }
        try Self.syncDirectory(partial)
        if manager.fileExists(atPath: current.path) {
            try? manager.removeItem(at: previous)
            try Self.rename(current, previous)
        }
        try Self.rename(partial, current)
        try Self.syncDirectory(directory)
        try? manager.removeItem(at: previous)
    }

    /// The folder of the newest complete checkpoint, if any (after a crash mid-swap, the previous one).
    public func latest() -> URL? {
        let manager = FileManager.default
        if manager.fileExists(atPath: current.path) { return current }
        if manager.fileExists(atPath: previous.path) { return previous }
        return nil
    }

    private static func syncDirectory(_ url: URL) throws {
        let descriptor = open(url.path, O_RDONLY | O_DIRECTORY)
        guard descriptor >= 0 else { throw CheckpointError(file: url.path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        _ = fsync(descriptor)
    }

    private static func rename(_ from: URL, _ to: URL) throws {
        guard Glibc.rename(from.path, to.path) == 0 else {
            throw CheckpointError(file: to.path, reason: "cannot rename \(from.lastPathComponent): \(String(cString: strerror(errno)))")
        }
    }
}

public struct CheckpointError: Error, CustomStringConvertible {
    public var file: String
    public var reason: String
    public var description: String { "\(file): \(reason)" }
}
