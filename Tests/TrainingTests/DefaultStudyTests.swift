import Foundation
import MHLR
import XCTest
@testable import Training

/// The built-in study (`make compare`) and the embedded default (`make run`), which is one of its runs.
final class DefaultStudyTests: XCTestCase {
    func testDefaultStudyIsThePapersExperimentAtSmallScale() throws {
        let study = try DefaultStudy.study()
        XCTAssertEqual(study.reference, "poly-20")
        XCTAssertEqual(study.seeds, [1, 2, 3])
        XCTAssertEqual(study.arms.map(\.name),
                       ["poly-20", "mhlr-5", "mhlr-5-w5", "mhlr-5-w16", "fastface-5", "poly-5", "cosine-5", "multistep-20"])
        let directory = URL(fileURLWithPath: "/tmp/x")
        for arm in study.arms {
            let config = try study.config(arm: arm, seed: 2, directory: directory)
            try config.validate()
            XCTAssertEqual(config.seed, 2)
            XCTAssertEqual(config.output, "/tmp/x")
            XCTAssertEqual(config.numEpoch, arm.name.hasSuffix("-20") ? 20 : 5, arm.name)
        }
        // 3,000 different-identity pairs resolve TAR at FAR 1e-3.
        XCTAssertGreaterThanOrEqual(study.synthetic.pairs / 2, 3000)
    }

    /// `make run` trains exactly the default study's MHLR arm with seed 1 (only where it writes and how often it
    /// verifies differ, neither of which changes the training).
    func testEmbeddedDefaultIsOneRunOfTheStudy() throws {
        let study = try DefaultStudy.study()
        var expected = try study.config(arm: XCTUnwrap(study.arm(named: EmbeddedDefault.mhlrArm)), seed: EmbeddedDefault.seed,
                                        directory: URL(fileURLWithPath: "/tmp/x"))
        let embedded = EmbeddedDefault.training
        XCTAssertEqual(embedded.output, TrainingConfig().output, "make run and a bare --resume share the default folder")
        XCTAssertEqual(embedded.verbose, 62, "a verification every epoch")
        (expected.output, expected.verbose) = (embedded.output, embedded.verbose)
        XCTAssertEqual(embedded, expected)
        XCTAssertEqual(EmbeddedDefault.synthetic, study.synthetic)
        XCTAssertEqual(embedded.scheduler.kind, .mhlr)
    }

    /// studies/beyond.yaml (docs/mhlr-study.md, "Beyond the paper") shares the default study's base and data, so
    /// a folder holding the default study's runs keeps the runs both name; every arm is a valid run.
    func testBeyondStudySharesTheDefaultStudysRuns() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("studies/beyond.yaml")
        let beyond = try Study.load(url), standard = try DefaultStudy.study()
        XCTAssertEqual(beyond.synthetic, standard.synthetic)
        XCTAssertEqual(beyond.reference, standard.reference)
        let directory = URL(fileURLWithPath: "/tmp/x")
        var shared = 0
        for arm in beyond.arms {
            let config = try beyond.config(arm: arm, seed: 1, directory: directory)
            try config.validate()
            if let same = standard.arm(named: arm.name) {
                XCTAssertEqual(config, try standard.config(arm: same, seed: 1, directory: directory), arm.name)
                shared += 1
            }
        }
        XCTAssertEqual(shared, 4, "poly-20, poly-5, mhlr-5 and mhlr-5-w16")
        let auto = try beyond.config(arm: XCTUnwrap(beyond.arm(named: "mhlr-auto")), seed: 1, directory: directory)
        XCTAssertEqual(auto.scheduler.stopAfterDecays, 4)
        XCTAssertEqual(auto.numEpoch, 20)
        let free = try beyond.config(arm: XCTUnwrap(beyond.arm(named: "schedulefree-5")), seed: 1, directory: directory)
        XCTAssertEqual(free.optimizer, "schedulefree")
    }
}
