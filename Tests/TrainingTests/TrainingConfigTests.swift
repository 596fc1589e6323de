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

/// The settings table is the only place a setting is declared: every setting must reach the config through its
/// flag, its config key and a checkpoint's trainer.json alike.
final class SettingsTableTests: XCTestCase {
    /// A value other than the default for every setting (a new setting without one fails the first check).
    static let samples: [String: (flag: String, value: Any)] = [
        "network": ("mbf", "mbf"), "embedding_size": ("256", 256), "margin_list": ("1,0,0.4", [1.0, 0.0, 0.4]),
        "scale": ("32", 32.0), "sample_rate": ("0.5", 0.5), "interclass_filtering_threshold": ("0.1", 0.1),
        "batch_size": ("64", 64), "lr": ("0.02", 0.02), "momentum": ("0.8", 0.8), "weight_decay": ("0.0001", 0.0001),
        "num_epoch": ("5", 5), "warmup_epoch": ("1", 1), "gradient_acc": ("2", 2), "seed": ("7", 7),
        "frequent": ("5", 5), "verbose": ("100", 100), "output": ("elsewhere", "elsewhere"), "rec": ("/data", "/data"),
        "val_targets": ("lfw,agedb_30", ["lfw", "agedb_30"]), "num_workers": ("3", 3), "image_size": ("32", 32),
        "checkpoint_every": ("10", 10), "exact_margin_gradient": ("true", true), "skip_nonfinite": ("true", true),
        "skip_bad_images": ("true", true), "fp16": ("true", true), "optimizer": ("schedulefree", "schedulefree"), "init": ("/tmp/model.pt", "/tmp/model.pt"),
        "tensorboard": ("false", false), "global_batch_size": ("64", 64), "sync_batch_norm": ("true", true),
        "scheduler": ("", ["name": "poly", "power": 2.0] as [String: Any]),
    ]

    func testEverySettingReachesTheConfigFromItsFlagKeyAndCheckpoint() throws {
        XCTAssertEqual(Set(TrainingConfig.settings.map(\.key)), Set(Self.samples.keys))
        let defaults = TrainingConfig()
        for setting in TrainingConfig.settings {
            let sample = Self.samples[setting.key]!
            let fromFile = try defaults.applying([setting.key: sample.value], source: "test")
            XCTAssertNotEqual(fromFile, defaults, "\(setting.key) from a config file")
            if setting.hasFlag {
                let fromFlag = try defaults.applyingFlags(["\(setting.flag)=\(sample.flag)"])
                XCTAssertEqual(fromFlag.config, fromFile, "\(setting.key): flag and config key agree")
                XCTAssertEqual(fromFlag.keys, [setting.key])
            }
            let saved = try JSONDecoder().decode(TrainingConfig.self, from: JSONEncoder().encode(fromFile))
            XCTAssertEqual(saved, fromFile, "\(setting.key) survives a checkpoint")
            // Resume: a setting that may change is taken, a fixed one is refused by name.
            if setting.onResume == .mayChange {
                XCTAssertEqual(try TrainingConfig.resumed(saved: defaults, requested: fromFile, checkpoint: "ckpt"), fromFile)
            } else {
                XCTAssertThrowsError(try TrainingConfig.resumed(saved: defaults, requested: fromFile, checkpoint: "ckpt")) {
                    XCTAssertTrue("\($0)".hasPrefix("ckpt: \(setting.key): the run was trained with "), "\($0)")
                }
            }
        }
    }

    /// A scheduler mapping with the current scheduler's name changes its parameters; another name starts afresh.
    func testSchedulerOverridesMergeOrReplace() throws {
        var spec = SchedulerSpec(kind: .mhlr)
        spec.threshold = 0.1
        var merged = try TrainingConfig().applying(["scheduler": ["name": "mhlr", "window": 40]], source: "t").scheduler
        XCTAssertEqual(merged.window, 40)
        var config = TrainingConfig()
        config.scheduler = spec
        merged = try config.applying(["scheduler": ["window": 40]], source: "t").scheduler
        XCTAssertEqual(merged.threshold, 0.1)
        XCTAssertEqual(merged.window, 40)
        let replaced = try config.applying(["scheduler": ["name": "poly"]], source: "t").scheduler
        XCTAssertEqual(replaced, SchedulerSpec(kind: .poly))
        XCTAssertThrowsError(try config.applying(["scheduler": ["windw": 4]], source: "s.yaml")) {
            XCTAssertTrue("\($0)".hasPrefix("s.yaml: 'scheduler' should be a scheduler parameter"), "\($0)")
        }
    }
}
