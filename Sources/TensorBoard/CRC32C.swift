/// CRC-32C (Castagnoli: the reflected polynomial 0x82F63B78), the checksum of TensorBoard's record framing.
public enum CRC32C {
    /// The CRC of each byte value, for the byte-at-a-time loop.
    private static let table: [UInt32] = (0..<256).map { byte in
        var crc = UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// The CRC-32C of `bytes` (initial value and final XOR 0xFFFFFFFF): "123456789" gives 0xE3069283.
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }

    /// TensorFlow's masked CRC (tensorflow/core/lib/hash/crc32c.h): rotated right by 15 bits and offset, so
    /// that a CRC stored inside the data it covers does not checksum to a fixed value.
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
