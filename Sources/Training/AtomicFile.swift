import Foundation

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
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw CheckpointError(file: url.path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        try writeAll(data, to: descriptor, url: url)
        guard fsync(descriptor) == 0 else { throw CheckpointError(file: url.path, reason: String(cString: strerror(errno))) }
    }

    /// Appends `data` at the end of the open file `descriptor` (`url` names it in errors) whole or not at all:
    /// a write that fails part-way (a full disk takes what fits) is cut off again, so the file still ends where
    /// it did, after a whole line for a log that appends whole lines.
    static func appendWhole(_ data: Data, to descriptor: Int32, url: URL) throws {
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else { throw CheckpointError(file: url.path, reason: String(cString: strerror(errno))) }
        do { try writeAll(data, to: descriptor, url: url) } catch {
            guard ftruncate(descriptor, end) == 0, lseek(descriptor, end, SEEK_SET) == end else {
                throw CheckpointError(file: url.path, reason: "\((error as? CheckpointError)?.reason ?? "\(error)"), and the "
                                      + "part written could not be cut off: \(String(cString: strerror(errno)))")
            }
            throw error
        }
    }

    /// Writes all of `data` at the descriptor's offset, retrying short writes; the one write to this file that
    /// `HAARFACE_FAULT_ENOSPC` names writes half and fails as a full disk would.
    private static func writeAll(_ data: Data, to descriptor: Int32, url: URL) throws {
        let failAfter = FaultInjection.bytesBeforeNoSpace(writing: data.count, to: url)
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                if let failAfter, offset >= failAfter {
                    throw CheckpointError(file: url.path, reason: String(cString: strerror(ENOSPC)))
                }
                let length = min(buffer.count, failAfter ?? buffer.count) - offset
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, length)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw CheckpointError(file: url.path, reason: String(cString: strerror(errno)))
                }
                offset += written
            }
        }
    }
}
