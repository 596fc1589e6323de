import FaceData
import Foundation

/// What `haarface train` does with no data: the run `make run` makes. It is one run of the default study
/// (`DefaultStudy`): the same synthetic set and settings as its MHLR arm `mhlrArm` with seed 1, so that the
/// study's table says how the same run fares under the other schedules (README quotes both). On a 2-core
/// machine it trains and verifies in a few minutes.
public enum EmbeddedDefault {
    /// The default study's arm whose settings `make run` uses.
    public static let mhlrArm = "mhlr-5-w16"
    public static let seed: UInt64 = 1

    /// The synthetic identities: training identities and held-out pairs from `haarface synth`'s generator.
    public static let synthetic = DefaultStudy.synthetic

    /// The study arm's settings, verifying every epoch.
    public static var training: TrainingConfig {
        // The default study is built in and checked by the tests: it cannot fail to load.
        let study = try! DefaultStudy.study()
        var config = try! study.config(arm: study.arm(named: mhlrArm)!, seed: seed,
                                       directory: URL(fileURLWithPath: TrainingConfig().output))
        config.output = TrainingConfig().output
        config.verbose = synthetic.identities * synthetic.imagesPerIdentity / config.batchSize
        return config
    }
}
