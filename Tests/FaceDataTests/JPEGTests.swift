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
