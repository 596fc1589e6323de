import Foundation

/// TFRecord framing, the layout of TensorBoard's event files: each record is
///
///     uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
///
/// (tensorboard/summary/writer/record_writer.py; the reader rejects a record whose checksums do not match).
public enum TFRecord {
    /// Bytes a record adds around its data: the length, its checksum and the data's checksum.
    public static let overhead = 16

    /// Appends the record of `data` to `output`.
    public static func append(_ data: Data, to output: inout Data) {
        var length = UInt64(data.count).littleEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Data($0) }
        output.append(lengthBytes)
        appendLittleEndian(CRC32C.masked(CRC32C.checksum(lengthBytes)), to: &output)
        output.append(data)
        appendLittleEndian(CRC32C.masked(CRC32C.checksum(data)), to: &output)
    }

    /// The record of `data`.
    public static func frame(_ data: Data) -> Data {
        var output = Data(capacity: data.count + overhead)
        append(data, to: &output)
        return output
    }

    private static func appendLittleEndian(_ value: UInt32, to output: inout Data) {
        var little = value.littleEndian
        withUnsafeBytes(of: &little) { output.append(contentsOf: $0) }
    }
}
