import CZlibCRC
import Foundation

/// Keeps one checkpoint folder of a run safe from crashes: a new checkpoint is written whole into
/// `<name>.partial/` (each file fsynced, `manifest.txt` last), then swapped in by two renames. The previous
/// checkpoint stays complete on disk until the new one is: at every instant, `<name>/` or `<name>.previous/`
/// holds a whole one. A write that fails (a full disk) removes the partial folder and leaves the previous
/// checkpoint as it was.
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

    /// Writes the files of a checkpoint (file name -> contents) and their manifest, and makes them the current
    /// checkpoint.
    public func write(_ files: [String: Data]) throws {
        try write(files.mapValues { FileContents($0) })
    }

    /// The same, each file's contents handed over in pieces as it is written.
    public func write(_ files: [String: FileContents]) throws {
        let number = FaultInjection.checkpointBegun()
        let manager = FileManager.default
        try? manager.removeItem(at: partial)
        do {
            try manager.createDirectory(at: partial, withIntermediateDirectories: true)
            var manifest = CheckpointManifest()
            for (index, (fileName, contents)) in files.sorted(by: { $0.key < $1.key }).enumerated() {
                let checksum = try AtomicFile.writeDurably(contents, to: partial.appendingPathComponent(fileName))
                manifest.add(CheckpointManifest.Entry(fileName: fileName, bytes: contents.byteCount, crc32: checksum))
                if index == 0 { FaultInjection.killIfDue(.files, checkpoint: number) }
            }
            try AtomicFile.writeDurably(manifest.encoded(), to: partial.appendingPathComponent(CheckpointManifest.fileName))
            try Self.syncDirectory(partial)
        } catch {
            try? manager.removeItem(at: partial)
            let failure = error as? CheckpointError ?? CheckpointError(file: partial.path, reason: "\(error)")
            let kept = latest().map { "the last checkpoint, \($0.path), is intact: continue with --resume once that is fixed (a full disk: free some space)" }
                ?? "no earlier checkpoint exists"
            throw CheckpointError(file: failure.file, reason: "\(failure.reason); this checkpoint was not written "
                                  + "(\(partial.lastPathComponent) removed) and \(kept)")
        }
        if manager.fileExists(atPath: current.path) {
            try? manager.removeItem(at: previous)
            try Self.rename(current, previous)
        }
        FaultInjection.killIfDue(.swap, checkpoint: number)
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

    /// Checks every file of the checkpoint in `folder` against its manifest (there, of the size written, of the
    /// CRC-32 written) and throws naming the first that is not and what is wrong with it; reads, changes nothing.
    /// Returns false for a checkpoint without a manifest (written before checkpoints had one): its files can
    /// only be checked by reading them as what they are.
    public static func verify(_ folder: URL) throws -> Bool {
        let manifestURL = folder.appendingPathComponent(CheckpointManifest.fileName)
        guard FileManager.default.fileExists(atPath: manifestURL.path) else { return false }
        let manifest = try CheckpointManifest(contentsOf: manifestURL)
        for entry in manifest.entries {
            let url = folder.appendingPathComponent(entry.fileName)
            let contents: Data
            do { contents = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
                throw CheckpointError(file: url.path, reason: "missing or unreadable (the manifest lists it: \(entry.bytes) bytes)")
            }
            guard contents.count == entry.bytes else {
                let what = contents.count < entry.bytes ? "truncated" : "too long"
                throw CheckpointError(file: url.path, reason: "\(what): expected \(entry.bytes) bytes (\(manifestURL.lastPathComponent)), "
                                      + "found \(contents.count)")
            }
            let checksum = CheckpointManifest.crc32(contents)
            guard checksum == entry.crc32 else {
                throw CheckpointError(file: url.path, reason: "damaged: its CRC-32 is \(CheckpointManifest.hex(checksum)), "
                                      + "\(manifestURL.lastPathComponent) says \(CheckpointManifest.hex(entry.crc32))")
            }
        }
        return true
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

/// `manifest.txt`, written last into each checkpoint: the size and CRC-32 (zlib's) of every other file, so that
/// `--resume` can tell a truncated or damaged file before it changes anything. Plain text, one file a line
/// (`<crc32> <bytes> <name>`), after a format line; its last line is the CRC-32 of the lines above it, so that
/// damage to the manifest itself is told apart from damage to the files it lists.
struct CheckpointManifest {
    static let fileName = "manifest.txt"
    static let format = "haarface-checkpoint-manifest-1"

    struct Entry: Equatable {
        var fileName: String
        var bytes: Int
        var crc32: UInt32
    }

    private(set) var entries: [Entry] = []

    init() {}

    mutating func add(_ entry: Entry) {
        entries.append(entry)
    }

    func encoded() -> Data {
        var body = Self.format + "\n"
        for entry in entries { body += "\(Self.hex(entry.crc32)) \(entry.bytes) \(entry.fileName)\n" }
        let bodyData = Data(body.utf8)
        return bodyData + Data("\(Self.hex(Self.crc32(bodyData))) \(Self.fileName)\n".utf8)
    }

    init(contentsOf url: URL) throws {
        func fail(_ reason: String) -> CheckpointError { CheckpointError(file: url.path, reason: reason) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw fail("cannot be read (\(error.localizedDescription))") }
        let ownLine = Data(" \(Self.fileName)\n".utf8)
        // The last line is 8 hex digits, a space and the manifest's name.
        let trailerLength = 8 + ownLine.count
        guard data.count >= trailerLength, data.suffix(ownLine.count) == ownLine,
              let recorded = UInt32(String(decoding: data.suffix(trailerLength).prefix(8), as: UTF8.self), radix: 16) else {
            throw fail("truncated or damaged: it does not end with its own CRC-32 line ('<crc32> \(Self.fileName)')")
        }
        let body = data.prefix(data.count - trailerLength)
        let checksum = Self.crc32(body)
        guard checksum == recorded else {
            throw fail("damaged: the CRC-32 of its lines is \(Self.hex(checksum)), its last line says \(Self.hex(recorded))")
        }
        let lines = String(decoding: body, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard lines.first == Substring(Self.format) else {
            throw fail("line 1: expected '\(Self.format)', found '\(lines.first ?? "")'")
        }
        for (index, line) in lines.enumerated().dropFirst() {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count == 3, fields[0].count == 8, let crc32 = UInt32(fields[0], radix: 16), let bytes = Int(fields[1]),
                  bytes >= 0 else {
                throw fail("line \(index + 1): expected '<crc32> <bytes> <file>', found '\(line)'")
            }
            entries.append(Entry(fileName: String(fields[2]), bytes: bytes, crc32: crc32))
        }
    }

    static func crc32(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { crc32($0, continuing: 0) }
    }

    /// The CRC-32 of the bytes before `buffer` (`checksum`) and `buffer`'s.
    static func crc32(_ buffer: UnsafeRawBufferPointer, continuing checksum: UInt32) -> UInt32 {
        var checksum = uLong(checksum)
        var offset = 0
        while offset < buffer.count {   // zlib takes a 32-bit length: 4 GiB or more goes in pieces
            let length = min(buffer.count - offset, 1 << 30)
            checksum = CZlibCRC.crc32(checksum, (buffer.baseAddress! + offset).assumingMemoryBound(to: UInt8.self), uInt(length))
            offset += length
        }
        return UInt32(checksum)
    }

    static func hex(_ checksum: UInt32) -> String { String(format: "%08x", checksum) }
}

public struct CheckpointError: Error, CustomStringConvertible {
    public var file: String
    public var reason: String
    public var description: String { "\(file): \(reason)" }
}
