import FaceData
import CZlibCRC
import Foundation
import NN
import ZIPFoundation

/// A `torch.save(state_dict)` file (PyTorch >= 1.6's zip layout: `<name>/data.pkl`, `<name>/data/<key>`,
/// `<name>/byteorder`; or the legacy layout of earlier versions, `TorchStateDict.legacy`) read without running anything: the pickle goes through `TorchStateDict`'s restricted
/// reader, the storages are read as raw little-endian data, strided and offset views are gathered, float16 and
/// bfloat16 (and float64) tensors become float32, and DDP's `module.` prefix is stripped.
public enum TorchCheckpoint {
    static let zipMagic: [UInt8] = [0x50, 0x4B, 0x03, 0x04]

    /// Whether the file starts like a torch.save file, zip or legacy (safetensors starts with its header length).
    public static func isTorchSave(_ url: URL) -> Bool {
        let head = firstBytes(of: url)
        return head.starts(with: zipMagic) || head == TorchStateDict.legacyMagic
    }

    /// The first bytes of the file, as many as the longer magic (empty when it cannot be read).
    static func firstBytes(of url: URL) -> [UInt8] {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return [] }
        defer { try? handle.close() }
        return [UInt8]((try? handle.read(upToCount: TorchStateDict.legacyMagic.count)) ?? Data())
    }

    public static func read(contentsOf url: URL) throws -> SafeTensors {
        func fail(_ message: String) -> ConfigError { ConfigError(file: url.path, message: message) }
        if !firstBytes(of: url).starts(with: zipMagic) {
            let data: Data
            do { data = try Data(contentsOf: url) } catch { throw fail("cannot read the file (\(error.localizedDescription))") }
            let (records, storages) = try TorchStateDict.legacy(data, file: url.path)
            return try tensors(records, fail: fail) { key, name in
                guard let storage = storages[key] else { throw fail("'\(name)' refers to storage \(key), which the file lacks") }
                return storage
            }
        }
        try checkCentralDirectory(of: url, fail: fail)
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw fail("not a readable torch.save archive (\(error))")
        }
        let entries = Array(archive)
        guard let pickleEntry = entries.first(where: { $0.path == "data.pkl" || $0.path.hasSuffix("/data.pkl") }) else {
            throw fail("a zip without data.pkl: not a torch.save file")
        }
        let prefix = String(pickleEntry.path.dropLast("data.pkl".count))
        // One pass over the central directory: looking entries up by path in the archive reads it again each time.
        let entriesByPath = Dictionary(entries.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        func contents(_ entry: Entry) throws -> Data {
            // The bytes an entry occupies in the file cannot outnumber the file's. ZIPFoundation would read a
            // damaged claim of 4 GB as 4,096 reads of 1 MiB past the end (each a fresh buffer), before the CRC
            // refused it: 79% of the pth fuzz target's time.
            let stored = entry.isCompressed ? entry.compressedSize : entry.uncompressedSize
            guard stored <= UInt64(fileSize) else {
                throw fail("\(entry.path) is damaged: the archive says it holds \(stored) bytes, in a file of \(fileSize)")
            }
            var data = Data()
            // torch.save stores its entries uncompressed, so this is the size it ends with.
            data.reserveCapacity(min(Int(clamping: entry.uncompressedSize), fileSize))
            do {
                // The CRC is checked below with zlib's crc32, many times faster than ZIPFoundation's own.
                _ = try archive.extract(entry, bufferSize: 1 << 20, skipCRC32: true) { data.append($0) }
            } catch {
                throw fail("cannot read \(entry.path) from the archive (\(error))")
            }
            let checksum = data.withUnsafeBytes { bytes -> UInt32 in
                UInt32(crc32(0, bytes.bindMemory(to: UInt8.self).baseAddress, uInt(bytes.count)))
            }
            guard checksum == entry.checksum else {
                throw fail("\(entry.path) is damaged: its CRC-32 is \(String(checksum, radix: 16)), the archive says \(String(entry.checksum, radix: 16))")
            }
            return data
        }
        if let order = entriesByPath[prefix + "byteorder"] {
            let text = String(decoding: try contents(order), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "little" else { throw fail("byteorder is '\(text)': only little-endian files are read") }
        }
        let records = try TorchStateDict.records(pickle: try contents(pickleEntry), file: "\(url.path):\(pickleEntry.path)")
        var storages: [String: Data] = [:]
        return try tensors(records, fail: fail) { key, name in
            if let storage = storages[key] { return storage }
            guard let entry = entriesByPath[prefix + "data/" + key] else {
                throw fail("'\(name)' refers to storage \(key), which the archive lacks")
            }
            let storage = try contents(entry)
            storages[key] = storage
            return storage
        }
    }

    /// Refuses an archive whose end records place the central directory outside the file, before ZIPFoundation
    /// reads it: it adds entry sizes to a ZIP64 offset near 2^64 unchecked and traps (found by the pth fuzz
    /// target). The end of central directory record (and, where it defers to them, the ZIP64 locator and
    /// record) as the ZIP format (APPNOTE 4.3.14-4.3.16) defines them.
    static func checkCentralDirectory(of url: URL, fail: (String) -> ConfigError) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw fail("cannot read the file") }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        func read(_ count: Int, at offset: UInt64) -> [UInt8] {
            guard offset < size, (try? handle.seek(toOffset: offset)) != nil else { return [] }
            return [UInt8]((try? handle.read(upToCount: count)) ?? Data())
        }
        func little(_ bytes: [UInt8], _ at: Int, _ width: Int) -> UInt64 {
            (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
        }
        // The end record is the last 22 bytes, or fewer than 64 KiB before them when it carries a comment.
        let tailStart = size > 22 + 0xFFFF ? size - 22 - 0xFFFF : 0
        let tail = read(Int(size - tailStart), at: tailStart)
        guard tail.count >= 22,
              let at = stride(from: tail.count - 22, through: 0, by: -1).first(where: { tail[$0..<($0 + 4)] == [0x50, 0x4B, 0x05, 0x06] })
        else { throw fail("a zip without its end of central directory record: not a torch.save file, or truncated") }
        var directoryOffset = little(tail, at + 16, 4), directorySize = little(tail, at + 12, 4)
        let locatorAt = Int(at) - 20
        if locatorAt >= 0, tail[locatorAt..<(locatorAt + 4)] == [0x50, 0x4B, 0x06, 0x07] {
            let recordOffset = little(tail, locatorAt + 8, 8)
            let record = read(56, at: recordOffset)
            guard record.count == 56, record[0..<4] == [0x50, 0x4B, 0x06, 0x06] else {
                throw fail("the ZIP64 end record is not where its locator says (byte \(recordOffset) of \(size))")
            }
            directorySize = little(record, 40, 8)
            directoryOffset = little(record, 48, 8)
        }
        guard directoryOffset <= size, directorySize <= size - directoryOffset else {
            throw fail("the central directory (\(directorySize) bytes at byte \(directoryOffset)) lies outside the file's \(size) bytes: damaged")
        }
    }

    /// The records' tensors by name (DDP's `module.` prefix stripped), each storage fetched by `storage(key, name)`.
    static func tensors(_ records: [(name: String, tensor: TorchTensorRecord)], fail: (String) -> ConfigError,
                        storage: (_ key: String, _ name: String) throws -> Data) throws -> SafeTensors {
        var file = SafeTensors(metadata: ["format": "pt", "source": "torch.save"])
        for (name, record) in records {
            let key = name.hasPrefix("module.") ? String(name.dropFirst("module.".count)) : name
            guard file[key] == nil else { throw fail("'\(key)' appears twice (with and without DDP's module. prefix)") }
            file[key] = try tensor(record, storage: try storage(record.storage, name), name: name, fail: fail)
        }
        return file
    }

    /// The view `record` describes into `storage`, gathered in row-major order.
    static func tensor(_ record: TorchTensorRecord, storage: Data, name: String, fail: (String) -> ConfigError) throws -> SafeTensor {
        let size = record.elementType.byteCount
        let available = storage.count / size
        let count = record.shape.reduce(1, *)
        if count > 0 {
            let last = record.offset + zip(record.shape, record.strides).reduce(0) { $0 + ($1.0 - 1) * $1.1 }
            guard last < available else {
                throw fail("'\(name)': its view reaches element \(last), the storage holds \(available)")
            }
        }
        // A contiguous float32 view (what torch.save writes for every state_dict tensor not made by slicing) is
        // one copy: 65M parameters would otherwise spend seconds on index arithmetic.
        let contiguous = record.shape.indices.map { record.shape[($0 + 1)...].reduce(1, *) }
        if record.elementType == .float32, count > 0, zip(record.shape, zip(record.strides, contiguous)).allSatisfy({ $0.0 == 1 || $0.1.0 == $0.1.1 }) {
            let start = storage.startIndex + record.offset * size
            return SafeTensor(dtype: .float32, shape: record.shape, bytes: [UInt8](storage[start..<start + count * size]))
        }
        // Element indices of the view, row-major.
        var indices = [Int](repeating: record.offset, count: count)
        if count > 0 {
            var position = [Int](repeating: 0, count: record.shape.count)
            for flat in 0..<count {
                var index = record.offset
                for axis in position.indices { index += position[axis] * record.strides[axis] }
                indices[flat] = index
                var axis = record.shape.count - 1
                while axis >= 0 {
                    position[axis] += 1
                    if position[axis] < record.shape[axis] { break }
                    position[axis] = 0
                    axis -= 1
                }
            }
        }
        return storage.withUnsafeBytes { raw -> SafeTensor in
            func load<T: FixedWidthInteger>(_ index: Int, _: T.Type) -> T {
                T(littleEndian: raw.loadUnaligned(fromByteOffset: index * size, as: T.self))
            }
            switch record.elementType {
            case .float32:
                return SafeTensor(float32: indices.map { Float(bitPattern: load($0, UInt32.self)) }, shape: record.shape)
            case .float16:
                return SafeTensor(float32: indices.map { Float(Float16(bitPattern: load($0, UInt16.self))) }, shape: record.shape)
            case .bfloat16:
                return SafeTensor(float32: indices.map { Float(bitPattern: UInt32(load($0, UInt16.self)) << 16) }, shape: record.shape)
            case .float64:
                return SafeTensor(float32: indices.map { Float(Double(bitPattern: load($0, UInt64.self))) }, shape: record.shape)
            case .int64:
                return SafeTensor(int64: indices.map { Int64(bitPattern: load($0, UInt64.self)) }, shape: record.shape)
            }
        }
    }
}
