import ArgumentParser
import Collective
import CollectiveMPI
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
            checkpoint/ (atomic), model.safetensors (PyTorch keys), summary.json, report.md + report.svg and \
            tensorboard/ (event files: `tensorboard --logdir <output>`).

            Settings (each also a config-file key: --batch-size is batch_size):
            \(TrainingConfig.flagHelp)
            """)

    @Option(help: "A YAML or JSON file of settings (arcface_torch names).")
    var config: String?

    @Flag(help: "Continue the run in --output from its newest checkpoint, exactly. Settings that may change between runs of one training (logging, workers, verification) can be given again; the others must match the checkpoint.")
    var resume = false

    @OptionGroup(title: "Scheduler (the base LR is --lr; the total steps come from the data and --num-epoch)")
    var schedulerOptions: SchedulerOptions

    /// The settings' flags (`--batch-size 64`, `--fp16`), read by `TrainingConfig.applyingFlags`, which
    /// `TrainingConfig.settings` defines; listed in the discussion above.
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var settingFlags: [String] = []

    func validate() throws {
        if schedulerOptions.baseLR != nil { throw ValidationError("train takes the base learning rate from --lr, not --base-lr") }
        if schedulerOptions.totalSteps != nil {
            throw ValidationError("train counts its steps from the data and --num-epoch; --total-steps is for replay and schedule")
        }
    }

    /// The settings in layers: the base (a resumed run's checkpoint; else the defaults, or the embedded default
    /// when neither a config file nor --rec names data), then the config file, the flags and the scheduler flags.
    func trainingConfig() throws -> TrainingConfig {
        let fileValues = try config.map { try TrainingConfig.fileValues(URL(fileURLWithPath: $0)) } ?? [:]
        let flagged = try TrainingConfig().applying(fileValues, source: config ?? "").applyingFlags(settingFlags)
        var settings: TrainingConfig
        if resume {
            settings = try Trainer.savedConfig(in: URL(fileURLWithPath: flagged.config.output))
            settings.output = flagged.config.output   // where the run is now, should it have moved
        } else if config != nil || flagged.keys.contains("rec") {
            settings = TrainingConfig()
        } else {
            settings = EmbeddedDefault.training
        }
        settings = try settings.applying(fileValues, source: config ?? "").applyingFlags(settingFlags).config
        let schedulerFlags = schedulerOptions.givenParameters
        if !schedulerFlags.isEmpty { settings = try settings.applying(["scheduler": schedulerFlags], source: "flags") }
        try settings.validate()
        return settings
    }

    func run() throws {
        guard MPICommunicator.isLaunchedByMPI else { return try train(communicator: SingleProcess()) }
        let communicator = try MPICommunicator()
        do {
            try train(communicator: communicator)
            communicator.finalize()
        } catch let failure as AgreedFailure {
            // Every rank knows: rank 0 tells, then each stops by itself (MPI_Finalize waits for every rank, so
            // mpirun ends the job only after the message is out).
            if communicator.isRoot { FileHandle.standardError.write(Data("Error: \(failure)\n".utf8)) }
            communicator.finalize()
            throw ExitCode.failure
        } catch {
            // This rank alone failed: it says so and ends every rank rather than leave them waiting.
            FileHandle.standardError.write(Data("haarface train: rank \(communicator.rank) of \(communicator.worldSize): \(error)\n".utf8))
            communicator.abort(code: 1)
        }
    }

    private func train(communicator: any Communicator) throws {
        var options = Trainer.Options()
        options.resume = resume
        options.communicator = communicator
        let settings = try trainingConfig()
        let trainer = try Trainer(config: settings, synthetic: EmbeddedDefault.synthetic, options: options)
        let summary = try trainer.run()
        guard communicator.isRoot else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        FileHandle.standardOutput.write(try encoder.encode(summary) + Data("\n".utf8))
    }
}
