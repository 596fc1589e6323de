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
}
