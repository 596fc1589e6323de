import Foundation
import Randomness
import XCTest
@testable import FaceData

final class RandomAndResizeTests: XCTestCase {
    private func fixture(_ name: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.fixtures.appendingPathComponent(name))) as? [String: Any])
    }

    /// Against scripts/reference/data_random.py (the generators written from Vigna's C code). The SplitMix64
    /// values for state 1234567 are also the published test vector (6457827717110365317, ...).
    func testGeneratorsMatchReference() throws {
        let reference = try fixture("random.json")
        var splitMix = SplitMix64(state: 1_234_567)
        XCTAssertEqual((0..<5).map { _ in String(splitMix.next()) }, reference["splitmix64_state_1234567"] as? [String])
        var xoshiro = Xoshiro256StarStar(seed: 42)
        XCTAssertEqual((0..<5).map { _ in String(xoshiro.next()) }, reference["xoshiro_seed_42"] as? [String])
        let randomness = LoaderRandomness(seed: 42)
        XCTAssertEqual((0..<3).map { randomness.permutation(count: 10, epoch: $0).map(Int.init) },
                       reference["permutation_seed_42_count_10"] as? [[Int]])
        XCTAssertEqual((0..<32).map { randomness.flips(epoch: 0, position: $0) }, reference["flips_seed_42_epoch_0"] as? [Bool])
    }

    /// Against torch's bilinear interpolate (scripts/reference/data_resize.py), within 1 grey level:
    /// we round to bytes (half away from zero), the reference stays in float (atol 0.5 for rounding,
    /// plus float32 summation-order differences, hence 0.51).
    func testBilinearResizeMatchesTorch() throws {
        let reference = try fixture("resize.json")
        let image = RGBImage(width: reference["width"] as! Int, height: reference["height"] as! Int,
                             pixels: (reference["pixels"] as! [Int]).map(UInt8.init))
        for case let expected as [String: Any] in reference["resized"] as! [Any] {
            let width = expected["width"] as! Int, height = expected["height"] as! Int
            let resized = image.resized(width: width, height: height)
            let values = expected["pixels"] as! [Double]
            XCTAssertEqual(resized.pixels.count, values.count)
            for (ours, theirs) in zip(resized.pixels, values) {
                XCTAssertEqual(Double(ours), theirs, accuracy: 0.51, "\(width)x\(height)")
            }
        }
        // Analytic case: [0, 100] widened to 4 pixels samples source x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
        let strip = RGBImage(width: 2, height: 1, pixels: [0, 0, 0, 100, 100, 100])
        XCTAssertEqual(strip.resized(width: 4, height: 1).pixels, [0, 0, 0, 25, 25, 25, 75, 75, 75, 100, 100, 100])
        XCTAssertEqual(image.resized(width: image.width, height: image.height), image)
    }
}
