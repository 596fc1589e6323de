import ArgumentParser
import FaceData
import Foundation
import MHLR
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a face-recognition model (arcface_torch's loop) with an MHLR-family scheduler.",
        discussion: """
            Settings have arcface_torch's names: from --config (YAML or JSON, e.g. `network: r50`), then these \
            flags on top. Without --rec and without a config file, trains the embedded default: a small model on \
            synthetic identities (generated once into <output>/synthetic), verified on held-out synthetic pairs. \
            The output folder gets training.log (arcface_torch's format), metrics.csv (one row per step), \
            checkpoint/ (atomic), model.safetensors (PyTorch keys) and report.md + report.svg.
            """)

    @Option(help: "A YAML or JSON file of settings (arcface_torch names).")
    var config: String?

    @Option(help: "Training data: a folder with train.rec/train.idx, a .rec file, or an image folder.")
    var rec: String?
    @Option(help: "Verification sets, comma-separated: names of <name>.bin beside the data, or paths.")
    var valTargets: String?
    @Option(help: "r18, r34, r50, r100, r200 or mbf.") var network: String?
    @Option var embeddingSize: Int?
    @Option(help: "m1,m2,m3 of CombinedMargin: 1,0.5,0 is ArcFace, 1,0,0.4 CosFace.") var marginList: String?
    @Option(help: "Partial FC sample rate in (0, 1].") var sampleRate: Double?
    @Option var interclassFilteringThreshold: Double?
    @Option var batchSize: Int?
    @Option(help: "Base learning rate.") var lr: Double?
    @Option var momentum: Double?
    @Option var weightDecay: Double?
    @Option var numEpoch: Int?
    @Option(help: "Warm-up epochs (poly scheduler).") var warmupEpoch: Int?
    @Option var gradientAcc: Int?
    @Option var seed: UInt64?
    @Option(help: "A training.log line every this many steps.") var frequent: Int?
    @Option(help: "Verify the val targets every this many steps.") var verbose: Int?
    @Option(help: "The output folder.") var output: String?
    @Option(help: "Input size (a multiple of 16).") var imageSize: Int?
    @Option var numWorkers: Int?
    @Option(help: "Write a checkpoint every this many steps (and always at the end).") var checkpointEvery: Int?
    @Flag(help: "Differentiate ArcFace's cos(theta + m) exactly (arcface_torch treats the margin as a constant shift).")
    var exactMarginGradient = false
    @Flag(help: "Skip steps whose loss is not finite (counted in the log) instead of stopping.")
    var skipNonfinite = false
    @Flag(help: "Skip undecodable images (counted) instead of stopping.")
    var skipBadImages = false
    @Flag(help: "Mixed precision (arcface_torch's fp16 knob): the trunk computes in bfloat16, weights stay float32.")
    var fp16 = false
    @Flag(help: "Continue the run in --output from its newest checkpoint, exactly.")
    var resume = false

    @OptionGroup(title: "Scheduler (the base LR is --lr; the total steps come from the data and --num-epoch)")
    var schedulerOptions: SchedulerOptions

    func validate() throws {
        if schedulerOptions.baseLR != nil { throw ValidationError("train takes the base learning rate from --lr, not --base-lr") }
        if schedulerOptions.totalSteps != nil {
            throw ValidationError("train counts its steps from the data and --num-epoch; --total-steps is for replay and schedule")
        }
        if resume {
            let given = [config != nil, rec != nil, network != nil, batchSize != nil, lr != nil, numEpoch != nil,
                         imageSize != nil, marginList != nil]
            if given.contains(true) {
                throw ValidationError("--resume continues the run in --output as it was configured; give only --output")
            }
        }
    }

    /// The settings: a config file, or the embedded default when no data is named, then the flags.
    func trainingConfig() throws -> TrainingConfig {
        var settings: TrainingConfig
        if let config {
            settings = try TrainingConfig.load(URL(fileURLWithPath: config))
        } else if rec != nil {
            settings = TrainingConfig()
        } else {
            settings = EmbeddedDefault.training
        }
        if let rec { settings.rec = rec }
        if let valTargets { settings.valTargets = valTargets.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let network { settings.network = network }
        if let embeddingSize { settings.embeddingSize = embeddingSize }
        if let marginList {
            let values = marginList.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 3, values.allSatisfy({ $0 != nil }) else {
                throw ValidationError("--margin-list takes three numbers m1,m2,m3 (e.g. 1,0.5,0), not '\(marginList)'")
            }
            settings.marginList = values.map { $0! }
        }
        if let sampleRate { settings.sampleRate = sampleRate }
        if let interclassFilteringThreshold { settings.interclassFilteringThreshold = interclassFilteringThreshold }
        if let batchSize { settings.batchSize = batchSize }
        if let lr { settings.lr = lr }
        if let momentum { settings.momentum = momentum }
        if let weightDecay { settings.weightDecay = weightDecay }
        if let numEpoch { settings.numEpoch = numEpoch }
        if let warmupEpoch { settings.warmupEpoch = warmupEpoch }
        if let gradientAcc { settings.gradientAcc = gradientAcc }
        if let seed { settings.seed = seed }
        if let frequent { settings.frequent = frequent }
        if let verbose { settings.verbose = verbose }
        if let output { settings.output = output }
        if let imageSize { settings.imageSize = imageSize }
        if let numWorkers { settings.numWorkers = numWorkers }
        if let checkpointEvery { settings.checkpointEvery = checkpointEvery }
        if exactMarginGradient { settings.exactMarginGradient = true }
        if skipNonfinite { settings.skipNonfinite = true }
        if skipBadImages { settings.skipBadImages = true }
        if fp16 { settings.fp16 = true }
        // Scheduler flags replace the config's scheduler when any is given.
        let flags = schedulerOptions.spec
        if flags != SchedulerSpec(kind: .mhlr) { settings.scheduler = flags }
        try settings.validate()
        return settings
    }

    func run() throws {
        var options = Trainer.Options()
        options.resume = resume
        let settings: TrainingConfig
        if resume {
            settings = { var c = TrainingConfig(); c.output = output ?? EmbeddedDefault.training.output; return c }()
        } else {
            settings = try trainingConfig()
        }
        let trainer = try Trainer(config: settings, synthetic: EmbeddedDefault.synthetic, options: options)
        let summary = try trainer.run()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        FileHandle.standardOutput.write(try encoder.encode(summary) + Data("\n".utf8))
    }
}
