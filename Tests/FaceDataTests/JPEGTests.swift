import Foundation
import XCTest
@testable import FaceData

final class JPEGTests: XCTestCase {
    /// A smooth gradient survives a quality-95 round trip within a few grey levels; corrupt bytes are rejected.
    func testRoundTripAndCorruptData() throws {
        var pixels = [UInt8](repeating: 0, count: 32 * 16 * 3)
        for y in 0..<16 { for x in 0..<32 {
            let i = (y * 32 + x) * 3
            pixels[i] = UInt8(x * 8); pixels[i + 1] = UInt8(y * 16); pixels[i + 2] = 128
        } }
        let image = RGBImage(width: 32, height: 16, pixels: pixels)
        let codec = JPEGCodec()
        let bytes = try codec.encode(image, quality: 95)
        XCTAssertEqual(Array(bytes.prefix(2)), [0xFF, 0xD8], "JPEG SOI marker")
        let decoded = try codec.decode(bytes, source: "memory")
        XCTAssertEqual(decoded.width, 32)
        XCTAssertEqual(decoded.height, 16)
        let maxError = zip(decoded.pixels, pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(maxError, 12)

        XCTAssertThrowsError(try codec.decode(Data([1, 2, 3, 4]), source: "bad.jpg")) { error in
            XCTAssertTrue("\(error)".hasPrefix("bad.jpg: not a JPEG"), "\(error)")
        }
        XCTAssertThrowsError(try codec.decode(bytes.prefix(bytes.count / 2), source: "half.jpg")) { error in
            XCTAssertTrue("\(error)".contains("half.jpg"), "\(error)")
        }
    }
}

final class JPEGRecoveryTests: XCTestCase {
    /// A failed decode must not poison the codec: the next good image decodes (libjpeg-turbo 2.1 otherwise
    /// reports "missing SOS marker" for it).
    func testGoodImageDecodesAfterAFailure() throws {
        let codec = JPEGCodec()
        let good = try makeJPEG(width: 16, height: 16, red: 200)
        for bad in [good.prefix(good.count / 3), good.prefix(good.count - 20), Data([0xFF, 0xD8, 0xFF])] {
            XCTAssertThrowsError(try codec.decode(bad, source: "bad"))
            XCTAssertEqual(try codec.decode(good, source: "good").width, 16)
        }
    }
}

final class JPEGBombTests: XCTestCase {
    /// Found by the jpeg fuzz target (Fuzz/regressions/jpeg): 43 bytes whose frame header (SOF0) declares
    /// 65,304 x 16,144 pixels made the decoder allocate 3 GB before reading any data; it is refused from the
    /// header, and the codec still decodes the next image.
    func testAHeaderDeclaringAHugeImageIsRefusedBeforeAllocating() throws {
        let bomb = Data([0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x3F, 0x10, 0xFF, 0x18, 0x03, 0x01, 0x22, 0x00, 0x02,
                         0x11, 0x01, 0x03, 0x11, 0x01, 0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0xFF,
                         0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x11, 0x3F, 0x00, 0xD8])
        let codec = JPEGCodec()
        XCTAssertThrowsError(try codec.decode(bomb, source: "bomb.jpg")) { error in
            XCTAssertEqual("\(error)", "bomb.jpg: 65304 x 16144 pixels: larger than any face image (at most 67108864)")
        }
        XCTAssertEqual(try codec.decode(try makeJPEG(width: 16, height: 16, red: 200), source: "good").width, 16)
    }
}

final class JPEGReferenceTests: XCTestCase {
    /// Byte-identical to PIL's decoding (scripts/reference/data_jpeg.py) of a noisy image: the accurate DCT
    /// and fancy upsampling, as torchvision's ImageFolder decodes.
    func testDecodeMatchesPIL() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        let image = try JPEGCodec().decode(try Data(contentsOf: fixtures.appendingPathComponent("jpeg_noise.jpg")), source: "noise")
        XCTAssertEqual(image.width, 24)
        XCTAssertEqual(image.height, 16)
        XCTAssertEqual(image.pixels, [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("jpeg_noise.rgb"))))
    }
}
