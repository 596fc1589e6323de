import Foundation
import MHLR
import XCTest
@testable import Training

final class TrainingConfigTests: XCTestCase {
    private func file(_ name: String, _ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString)-\(name)")
        try text.write(to: url, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Keys are arcface_torch's; unset keys keep its config/base.py defaults (lr 0.1, momentum 0.9, wd 5e-4, ...).
    func testYAMLAndJSONUseArcfaceTorchNames() throws {
        let yaml = try TrainingConfig.load(try file("c.yaml", """
            network: r18
            margin_list: [1.0, 0.0, 0.4]
            batch_size: 64
            val_targets: [lfw, cfp_fp]
            scheduler: {name: mhlr, window: 400, restart_after: none}
            """))
        XCTAssertEqual(yaml.network, "r18")
        XCTAssertEqual(yaml.marginList, [1.0, 0.0, 0.4])
        XCTAssertEqual(yaml.batchSize, 64)
        XCTAssertEqual(yaml.valTargets, ["lfw", "cfp_fp"])
        XCTAssertEqual(yaml.scheduler.window, 400)
        XCTAssertEqual(yaml.scheduler.restartAfter, .never)
        XCTAssertEqual(yaml.lr, 0.1)
        XCTAssertEqual(yaml.weightDecay, 5e-4)
        XCTAssertEqual(yaml.embeddingSize, 512)

        let json = try TrainingConfig.load(try file("c.json", #"{"network": "mbf", "lr": 0.02, "num_epoch": 5}"#))
        XCTAssertEqual(json.network, "mbf")
        XCTAssertEqual(json.lr, 0.02)
        XCTAssertEqual(json.numEpoch, 5)
        XCTAssertEqual(json.scheduler, SchedulerSpec(kind: .mhlr))
    }

    func testBadConfigsNameTheFileAndSetting() throws {
        let typo = try file("typo.yaml", "netwrok: r18\n")
        XCTAssertThrowsError(try TrainingConfig.load(typo)) {
            XCTAssertTrue("\($0)".hasPrefix("\(typo.path): unknown setting 'netwrok'"), "\($0)")
        }
        let wrongType = try file("type.yaml", "batch_size: many\n")
        XCTAssertThrowsError(try TrainingConfig.load(wrongType)) {
            XCTAssertTrue("\($0)".contains("'batch_size' should be Int"), "\($0)")
        }
        XCTAssertThrowsError(try TrainingConfig.load(try file("list.json", "[1, 2]"))) {
            XCTAssertTrue("\($0)".contains("expected a JSON object of settings"), "\($0)")
        }
        XCTAssertThrowsError(try TrainingConfig.load(URL(fileURLWithPath: "/nonexistent/c.yaml"))) {
            XCTAssertEqual("\($0)", "/nonexistent/c.yaml: cannot read the file")
        }
        var config = TrainingConfig()
        config.imageSize = 100
        XCTAssertThrowsError(try config.validate()) {
            XCTAssertEqual("\($0)", "config: image_size: must be a positive multiple of 16, found 100")
        }
        config = TrainingConfig()
        config.network = "r42"
        XCTAssertThrowsError(try config.validate()) {
            XCTAssertEqual("\($0)", "config: network: expected r18, r34, r50, r100, r200 or mbf, found 'r42'")
        }
    }
}
