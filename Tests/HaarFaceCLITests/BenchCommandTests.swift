import Foundation
import XCTest

/// `haarface bench`: runs the built binary on a tiny configuration (speed is not asserted here; the
/// comparison lives in scripts/bench/compare_train.py).
final class BenchCommandTests: XCTestCase {
    func testTrainPrintsTheFiguresAsJSON() throws {
        let run = try CLI.run(["bench", "train", "--model", "r18", "--batch-size", "2", "--image-size", "32",
                               "--steps", "1", "--warmup", "0", "--classes", "10"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["mode"] as? String, "train")
        XCTAssertEqual(json["batch_size"] as? Int, 2)
        XCTAssertGreaterThan(try XCTUnwrap(json["images_per_second"] as? Double), 0)
        XCTAssertGreaterThan(try XCTUnwrap(json["peak_rss_bytes"] as? Int), 0)
        // 3 x 2 x 213,057,536 forward multiply-adds of iresnet18 at 32x32 (scripts/reference/models.py's
        // forward_macs): 1.278 GFLOP per training image.
        XCTAssertEqual(try XCTUnwrap(json["gflop_per_image"] as? Double), 1.278345216, accuracy: 1e-9)
        let losses = try XCTUnwrap(json["losses"] as? [Double])
        XCTAssertEqual(losses.count, 1)
        XCTAssertTrue(losses[0].isFinite && losses[0] > 0)
    }

    func testRefusesBadFlagsWithAMessage() throws {
        let batch = try CLI.run(["bench", "train", "--batch-size", "1"])
        XCTAssertNotEqual(batch.status, 0)
        XCTAssertTrue(batch.stderr.contains("--batch-size must be at least 2"), batch.stderr)
        let size = try CLI.run(["bench", "embed", "--model", "mbf", "--image-size", "128"])
        XCTAssertNotEqual(size.status, 0)
        XCTAssertTrue(size.stderr.contains("--model mbf takes --image-size 112"), size.stderr)
        let model = try CLI.run(["bench", "embed", "--model", "r19"])
        XCTAssertNotEqual(model.status, 0)
        XCTAssertTrue(model.stderr.contains("r19"), model.stderr)
    }
}
