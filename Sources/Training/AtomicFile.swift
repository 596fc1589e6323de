import Foundation
import NN

/// Files that are never seen half-written.
public enum AtomicFile {
    /// Writes `data` to a temporary file beside `url`, fsyncs it and renames it over `url`; a write that fails
    /// (a full disk) leaves `url` as it was and no temporary file behind.
    public static func write(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        do { try writeDurably(data, to: temporary) } catch {
            unlink(temporary.path)
            throw error
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw CheckpointError(file: url.path, reason: "cannot rename the new file into place: \(reason)")
        }
    }

    /// Writes `data` to `url` and waits until it is on disk.
    static func writeDurably(_ data: Data, to url: URL) throws {
        _ = try writeDurably(FileContents(data), to: url)
    }

    /// Writes `contents` to `url` piece by piece and waits until it is on disk; returns the CRC-32 of what it wrote.
    static func writeDurably(_ contents: FileContents, to url: URL) throws -> UInt32 {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw CheckpointError(file: url.path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let checksum = try writeAll(contents, to: descriptor, url: url)
        guard fsync(descriptor) == 0 else { throw CheckpointError(file: url.path, reason: String(cString: strerror(errno))) }
        return checksum
    }

    /// Appends `data` at the end of the open file `descriptor` (`url` names it in errors) whole or not at all:
    /// a write that fails part-way (a full disk takes what fits) is cut off again, so the file still ends where
    /// it did, after a whole line for a log that appends whole lines.
    static func appendWhole(_ data: Data, to descriptor: Int32, url: URL) throws {
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else { throw CheckpointError(file: url.path, reason: String(cString: strerror(errno))) }
        do { _ = try writeAll(FileContents(data), to: descriptor, url: url) } catch {
            guard ftruncate(descriptor, end) == 0, lseek(descriptor, end, SEEK_SET) == end else {
                throw CheckpointError(file: url.path, reason: "\((error as? CheckpointError)?.reason ?? "\(error)"), and the "
                                      + "part written could not be cut off: \(String(cString: strerror(errno)))")
            }
            throw error
        }
    }

    /// Writes all of `contents` at the descriptor's offset, retrying short writes, and returns its CRC-32; the
    /// one write to this file that `HAARFACE_FAULT_ENOSPC` names (a whole file, however many pieces) writes
    /// half and fails as a full disk would.
    private static func writeAll(_ contents: FileContents, to descriptor: Int32, url: URL) throws -> UInt32 {
        let failAfter = FaultInjection.bytesBeforeNoSpace(writing: contents.byteCount, to: url)
        var offset = 0
        var checksum: UInt32 = 0
        try contents.writePieces { piece in
            checksum = CheckpointManifest.crc32(piece, continuing: checksum)
            var done = 0
            while done < piece.count {
                if let failAfter, offset >= failAfter {
                    throw CheckpointError(file: url.path, reason: String(cString: strerror(ENOSPC)))
                }
                let length = min(piece.count - done, failAfter.map { $0 - offset } ?? piece.count)
                let written = Glibc.write(descriptor, piece.baseAddress! + done, length)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw CheckpointError(file: url.path, reason: String(cString: strerror(errno)))
                }
                done += written
                offset += written
            }
        }
        guard offset == contents.byteCount else {
            throw CheckpointError(file: url.path, reason: "\(offset) bytes written where \(contents.byteCount) were to be")
        }
        return checksum
    }
}

/// A file's bytes, handed over in pieces as the file is written (`FileContents(safeTensors:)`: a 1.2 GB head
/// goes to disk from where it lies, never gathered into one more buffer).
public struct FileContents {
    /// The file's size.
    public let byteCount: Int
    /// Calls its argument with each piece in order; the pieces add up to `byteCount` bytes.
    public let writePieces: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void

    public init(byteCount: Int, writePieces: @escaping ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
        self.byteCount = byteCount
        self.writePieces = writePieces
    }

    public init(_ data: Data) {
        self.init(byteCount: data.count) { emit in try data.withUnsafeBytes { try emit($0) } }
    }

    public init(safeTensors file: SafeTensors) {
        self.init(byteCount: file.byteCount) { emit in try file.writePieces(emit) }
    }
}
