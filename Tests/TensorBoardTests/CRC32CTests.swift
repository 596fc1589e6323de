import Foundation
import TensorBoard
import XCTest

final class CRC32CTests: XCTestCase {
    /// The CRC catalogue's check value for CRC-32C (the CRC of the ASCII digits 1-9) and RFC 3720's test
    /// vectors (iSCSI, appendix B.4: 32 bytes of 0x00, of 0xFF, ascending, descending, and a SCSI read PDU).
    func testCheckValueAndRFC3720Vectors() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map(UInt8.init)), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).reversed().map(UInt8.init)), 0x113F_DB5C)
        let readPDU: [UInt8] = [
            0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
            0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]
        XCTAssertEqual(CRC32C.checksum(readPDU), 0xD996_3A56)
    }

    /// The mask by hand: 0xE3069283 rotated right by 15 bits is 0x2507C60D (its low 15 bits 0x1283 move to the
    /// top: 0x1283 << 17 = 0x25060000, and 0xE3069283 >> 15 = 0x1C60D), plus 0xA282EAD8 is 0xC78AB0E5 (mod 2^32),
    /// which is also what TensorBoard's masked_crc32c(b"123456789") gives
    /// (tensorboard.compat.tensorflow_stub.pywrap_tensorflow, tensorboard 2.21.0).
    func testMaskRotatesAndOffsets() {
        XCTAssertEqual(CRC32C.masked(0xE306_9283), 0xC78A_B0E5)
        XCTAssertEqual(CRC32C.masked(0), 0xA282_EAD8)
        XCTAssertEqual(CRC32C.masked(0xFFFF_FFFF), 0xA282_EAD7, "wraps around: 0xFFFFFFFF + 0xA282EAD8 mod 2^32")
    }

    /// A record is the 8-byte little-endian length, the masked CRC of those 8 bytes, the data, the masked CRC
    /// of the data; every byte of the frame is checked, so that one wrong byte fails.
    func testFrameLayout() {
        let data = Data("123456789".utf8)
        let frame = [UInt8](TFRecord.frame(data))
        XCTAssertEqual(frame.count, 8 + 4 + 9 + 4)
        let length: [UInt8] = [9, 0, 0, 0, 0, 0, 0, 0]
        let lengthCRC = CRC32C.masked(CRC32C.checksum(length))
        XCTAssertEqual(frame, length + littleEndian(lengthCRC) + Array(data) + littleEndian(0xC78A_B0E5))
        // A 300-byte record: the length needs two bytes (0x2C, 0x01).
        XCTAssertEqual(Array(TFRecord.frame(Data(count: 300)).prefix(8)), [0x2C, 0x01, 0, 0, 0, 0, 0, 0])
    }

    private func littleEndian(_ value: UInt32) -> [UInt8] {
        (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}
