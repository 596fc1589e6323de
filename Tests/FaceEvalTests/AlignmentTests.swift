import FaceData
import XCTest
@testable import FaceEval

/// Expected values: scripts/reference/eval_fixtures.py (alignment.json): scikit-image 0.19.3's
/// SimilarityTransform.estimate and OpenCV 4.6.0's cv2.warpAffine(borderValue=0).
final class AlignmentTests: XCTestCase {
    func testTemplateMatchesInsightface() throws {
        let json = try Fixture.load("alignment.json")
        XCTAssertEqual(FaceAlignment.arcFaceTemplate.flatMap { [$0.x, $0.y] }, try Fixture.doubles(json["template"]))
    }

    func testSimilarityMatchesSkimage() throws {
        let json = try Fixture.load("alignment.json")
        let transforms = try XCTUnwrap(json["transforms"] as? [[String: Any]])
        XCTAssertEqual(transforms.count, 6)
        for entry in transforms {
            let values = try Fixture.doubles(entry["landmarks"])
            let landmarks = (0..<5).map { SIMD2(values[2 * $0], values[2 * $0 + 1]) }
            let matrix = try FaceAlignment.transform(landmarks: landmarks).rows.flatMap { $0 }
            // skimage's Umeyama in float64 reaches the same least-squares optimum: rtol 1e-9 covers SVD
            // rounding against our closed form (coefficients are O(1), translations O(100)).
            let float64 = try Fixture.doubles(entry["matrixFloat64"])
            assertClose(matrix, float64, rtol: 1e-9, atol: 1e-9, "float64 estimate")
            // Insightface feeds float32 arrays, so skimage averages and decomposes in float32: the
            // fixture script measured differences up to 2e-5 on translations; rtol 1e-5 + atol 1e-4.
            let insightface = try Fixture.doubles(entry["matrixInsightface"])
            assertClose(matrix, insightface, rtol: 1e-5, atol: 1e-4, "insightface's float32 estimate")
        }
    }

    func testWarpMatchesOpenCVExactly() throws {
        let json = try Fixture.load("alignment.json")
        let imageJSON = try XCTUnwrap(json["image"] as? [String: Any])
        let image = RGBImage(width: try XCTUnwrap(imageJSON["width"] as? Int),
                             height: try XCTUnwrap(imageJSON["height"] as? Int),
                             pixels: try Fixture.decode(imageJSON["pixels"], as: UInt8.self))
        let warps = try XCTUnwrap(json["warps"] as? [[String: Any]])
        for (index, warp) in warps.enumerated() {
            let matrix = AffineTransform(rows: try Fixture.matrix(warp["matrix"]))
            let expected = try Fixture.decode(warp["pixels"], as: UInt8.self)
            let ours = AffineWarp.warp(image, by: matrix, width: 112, height: 112)
            // Same fixed-point arithmetic as OpenCV: every byte equal.
            let differing = zip(ours.pixels, expected).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "warp \(index): \(differing) of \(expected.count) bytes differ")
            // The fixture's output includes the zero border, so the border path is exercised.
            XCTAssertGreaterThan(expected.filter { $0 == 0 }.count, 1000, "warp \(index) has a border")
        }
    }

    func testAlignmentPutsLandmarksOnTheTemplate() throws {
        // Bright 3x3 dots at five landmarks of a rotated, scaled face in a 200x200 crop: after alignment
        // each dot's brightest pixel lies within a pixel of its template position.
        let angle = 0.3, scale = 1.6
        let landmarks = FaceAlignment.arcFaceTemplate.map { p in
            SIMD2(scale * (cos(angle) * p.x - sin(angle) * p.y) + 60, scale * (sin(angle) * p.x + cos(angle) * p.y) - 20)
        }
        var image = RGBImage(width: 200, height: 200)
        for p in landmarks {
            let cx = Int(p.x.rounded()), cy = Int(p.y.rounded())
            for y in (cy - 1)...(cy + 1) { for x in (cx - 1)...(cx + 1) {
                for c in 0..<3 { image.pixels[(y * 200 + x) * 3 + c] = 255 }
            } }
        }
        let aligned = try FaceAlignment.align(image, landmarks: landmarks)
        XCTAssertEqual(aligned.width, 112)
        for target in FaceAlignment.arcFaceTemplate {
            var best = (value: -1, x: 0, y: 0)
            for y in max(0, Int(target.y) - 6)..<min(112, Int(target.y) + 7) {
                for x in max(0, Int(target.x) - 6)..<min(112, Int(target.x) + 7) {
                    let v = Int(aligned.pixels[(y * 112 + x) * 3])
                    if v > best.value { best = (v, x, y) }
                }
            }
            XCTAssertGreaterThan(best.value, 100)
            XCTAssertLessThanOrEqual(abs(Double(best.x) - target.x), 1.0, "x near \(target)")
            XCTAssertLessThanOrEqual(abs(Double(best.y) - target.y), 1.0, "y near \(target)")
        }
    }

    func testBadLandmarksThrow() {
        let image = RGBImage(width: 8, height: 8)
        XCTAssertThrowsError(try FaceAlignment.align(image, landmarks: [SIMD2(1, 1)], source: "a.jpg")) { error in
            XCTAssertEqual(error as? EvaluationError,
                           .badLandmarks(source: "a.jpg", reason: "expected 5 landmarks, found 1"))
        }
        XCTAssertThrowsError(try FaceAlignment.align(image, landmarks: Array(repeating: SIMD2(3, 3), count: 5),
                                                     source: "b.jpg")) { error in
            XCTAssertEqual((error as? EvaluationError).map { "\($0)" },
                           "b.jpg: all points coincide or are not finite; no transform is defined")
        }
    }

    func testFlipMirrorsColumns() {
        let image = RGBImage(width: 3, height: 1, pixels: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(image.flippedHorizontally().pixels, [7, 8, 9, 4, 5, 6, 1, 2, 3])
    }
}
