import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file opened for positional reads (`pread`), so that many threads can read it at once
/// without sharing a file position. The file is never loaded whole.
final class PositionalFile: Sendable {
    let path: String
    let size: UInt64
    private let descriptor: Int32

    init(path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw DataFormatError(file: path, message: "cannot open (\(String(cString: strerror(errno))))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            close(descriptor)
            throw DataFormatError(file: path, message: "cannot stat (\(String(cString: strerror(errno))))")
        }
        self.path = path
        self.descriptor = descriptor
        self.size = UInt64(status.st_size)
    }

    deinit { close(descriptor) }

    /// Reads `count` bytes at `offset` into `buffer`; returns how many bytes the file had there
    /// (fewer than `count` only at the end of the file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let got = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if got < 0 {
                if errno == EINTR { continue }
                throw DataFormatError(file: path, location: "byte \(offset)",
                                      message: "read failed (\(String(cString: strerror(errno))))")
            }
            if got == 0 { break }
            done += got
        }
        return done
    }

    /// Reads exactly `count` bytes at `offset`, or throws naming `what` was cut short.
    func readExactly(_ count: Int, at offset: UInt64, what: @autoclosure () -> String) throws -> Data {
        var data = Data(count: count)
        let got = try data.withUnsafeMutableBytes { try read(into: $0, at: offset) }
        guard got == count else {
            throw DataFormatError(file: path, location: what(),
                                  message: "file truncated: expected \(count) bytes at byte \(offset), "
                                      + "found \(got) (the file has \(size) bytes)")
        }
        return data
    }
}

/// A file written front to back through a buffer, with a positional write for patching headers.
final class AppendingFile {
    let path: String
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    /// Bytes written so far, buffered ones included.
    private(set) var position: UInt64 = 0

    init(path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw DataFormatError(file: path, message: "cannot create (\(String(cString: strerror(errno))))")
        }
        self.path = path
        self.descriptor = descriptor
        buffer.reserveCapacity(1 << 20)
    }

    deinit { close(descriptor) }

    func write<Bytes: Sequence>(_ bytes: Bytes) throws where Bytes.Element == UInt8 {
        let before = buffer.count
        buffer.append(contentsOf: bytes)
        position += UInt64(buffer.count - before)
        if buffer.count >= 1 << 20 { try flush() }
    }

    func flush() throws {
        var done = 0
        while done < buffer.count {
            let wrote = buffer.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + done, $0.count - done) }
            if wrote < 0 {
                if errno == EINTR { continue }
                throw DataFormatError(file: path, message: "write failed (\(String(cString: strerror(errno))))")
            }
            done += wrote
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Overwrites bytes already flushed at `offset`.
    func overwrite(_ bytes: [UInt8], at offset: UInt64) throws {
        try flush()
        let wrote = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress!, $0.count, off_t(offset)) }
        guard wrote == bytes.count else {
            throw DataFormatError(file: path, message: "write failed (\(String(cString: strerror(errno))))")
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendLittleEndian(_ value: Float) {
        appendLittleEndian(value.bitPattern)
    }
}

extension Data {
    /// The little-endian integer at byte `offset` (no alignment needed).
    func littleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for byteIndex in 0..<MemoryLayout<T>.size {
            value |= T(self[startIndex + offset + byteIndex]) << (8 * byteIndex)
        }
        return value
    }
}
