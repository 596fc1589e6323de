import FaceData

/// What `haarface train` does with no data: the run `make run` makes. Sized so that on a 2-core machine it
/// trains and evaluates in under 10 minutes, with held-out verification accuracy well above the pixel
/// baseline of the same pairs (README states both figures).
public enum EmbeddedDefault {
    /// The synthetic identities: training identities and held-out pairs from `haarface synth`'s generator.
    public static let synthetic = SynthConfig(identities: 200, imagesPerIdentity: 24, imageSize: 32, seed: 2404,
                                              pairs: 1000, difficulty: 1)

    /// arcface_torch's settings, scaled to the synthetic set.
    public static var training: TrainingConfig {
        var config = TrainingConfig()
        config.network = "r18"
        config.imageSize = synthetic.imageSize
        config.embeddingSize = 128
        config.marginList = [1.0, 0.0, 0.4]   // CosFace: converges from scratch on a small set
        config.batchSize = 64
        config.lr = 0.1
        config.numEpoch = 8
        config.frequent = 10
        config.verbose = 150                    // every 2 epochs (75 steps per epoch)
        // 600 steps in all: MHLR's published window, 1.5% of the run, would be 9 steps; 5% gives a
        // 30-step box average and 60 steps of patience.
        config.scheduler.windowFraction = 0.05
        config.checkpointEvery = 0
        return config
    }
}
