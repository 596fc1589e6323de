import FaceData
import Foundation
import MHLR

/// Runs a `Study`: every arm x seed as an ordinary training run in `<output>/<arm>/seed-<n>/`, one after the
/// other, then `ComparisonResult` tables them from the runs' own files. With `resume`, finished runs are kept
/// and an interrupted one continues from its checkpoint.
public struct Comparison {
    public var study: Study
    public var output: URL
    public var resume: Bool
    /// Called with a line of progress (stderr in the command).
    public var report: (String) -> Void

    public init(study: Study, output: URL, resume: Bool, report: @escaping (String) -> Void = { _ in }) {
        self.study = study
        self.output = output
        self.resume = resume
        self.report = report
    }

    /// Verifications per run when an arm does not set `verbose`: enough for a curve of accuracy over time.
    public static let verificationsPerRun = 6
    /// Checkpoints per run when an arm does not set `checkpoint_every`, so a killed study loses little.
    public static let checkpointsPerRun = 6

    public func runDirectory(arm: Study.Arm, seed: UInt64) -> URL {
        output.appendingPathComponent(arm.name).appendingPathComponent("seed-\(seed)")
    }

    /// The runs in the order they are trained: seed by seed, each seed through every arm.
    public var plannedRuns: [(arm: Study.Arm, seed: UInt64)] {
        study.seeds.flatMap { seed in study.arms.map { ($0, seed) } }
    }

    /// Trains every run that has not finished, then writes compare.json, compare.md and compare.svg.
    @discardableResult
    public func run() throws -> ComparisonResult {
        let start = Trainer.now()
        let manager = FileManager.default
        if !resume, manager.fileExists(atPath: output.path),
           let entries = try? manager.contentsOfDirectory(atPath: output.path),
           entries.contains(where: { name in study.arms.contains { $0.name == name } }) {
            throw ConfigError(file: output.path, message: "already holds runs of a study: pass --resume to continue it, or choose another --output")
        }
        try manager.createDirectory(at: output, withIntermediateDirectories: true)
        let data = try sharedData()
        var runSeconds = 0.0
        for (index, planned) in plannedRuns.enumerated() {
            let directory = runDirectory(arm: planned.arm, seed: planned.seed)
            var config = try study.config(arm: planned.arm, seed: planned.seed, directory: directory)
            if config.rec.isEmpty {
                config.rec = data.rec
                if config.valTargets.isEmpty { config.valTargets = data.valTargets }
            }
            let label = "[\(index + 1)/\(plannedRuns.count)] \(planned.arm.name) seed \(planned.seed)"
            let summaryURL = directory.appendingPathComponent(Trainer.summaryFile)
            if manager.fileExists(atPath: summaryURL.path) {
                // Finished: keep it, if it is the run this study asks for.
                let saved = try Trainer.savedConfig(in: directory)
                _ = try TrainingConfig.resumed(saved: saved, requested: try filled(config, arm: planned.arm, saved: saved),
                                               checkpoint: directory.path)
                report("\(label): finished before, kept")
                continue
            }
            var options = Trainer.Options()
            options.echoLog = false
            if CheckpointStore(directory: directory).latest() != nil {
                options.resume = true
                config = try filled(config, arm: planned.arm, saved: try Trainer.savedConfig(in: directory))
                report("\(label): resuming from its checkpoint")
            } else {
                try? manager.removeItem(at: directory)   // a run killed before its first checkpoint starts again
                config = try filled(config, arm: planned.arm, saved: nil)
            }
            let runStart = Trainer.now()
            let summary = try Trainer(config: config, synthetic: study.synthetic, options: options).run()
            runSeconds += Trainer.now() - runStart
            let last = summary.verifications.last.map { String(format: ", held-out accuracy %.2f%%", 100 * $0.accuracy) } ?? ""
            report(String(format: "%@: %d steps, %.1f s training + %.1f s verification%@", label, summary.steps,
                          summary.trainingSeconds, summary.verificationSeconds, last))
        }
        var result = try ComparisonResult(study: study, runs: plannedRuns.map {
            try RunRecord(arm: $0.arm.name, seed: $0.seed, directory: runDirectory(arm: $0.arm, seed: $0.seed))
        })
        // The command's own time: everything but the training runs (data, checks, reading the runs' files).
        result.overheadSeconds = Trainer.now() - start - runSeconds
        try result.write(to: output)
        report(String(format: "compare: %@ (the command's own time: %.2f s)",
                      output.appendingPathComponent("compare.md").path, result.overheadSeconds))
        return result
    }

    /// Sets what the study leaves to compare: `verbose` and `checkpoint_every` at a sixth of the run, unless
    /// the arm or the base sets them. A resumed run takes them from its checkpoint.
    private func filled(_ config: TrainingConfig, arm: Study.Arm, saved: TrainingConfig?) throws -> TrainingConfig {
        var config = config
        let setsVerbose = study.sets("verbose", in: arm), setsCheckpoints = study.sets("checkpoint_every", in: arm)
        if let saved {
            if !setsVerbose { config.verbose = saved.verbose }
            if !setsCheckpoints { config.checkpointEvery = saved.checkpointEvery }
            return config
        }
        let data = try TrainingData.resolve(config, synthetic: study.synthetic, outputDirectory: output) { _ in }
        let steps = Loader.batchesPerEpoch(imageCount: data.source.count, batchSize: config.batchSize) * config.numEpoch
        if !setsVerbose { config.verbose = max(1, (steps + Self.verificationsPerRun - 1) / Self.verificationsPerRun) }
        if !setsCheckpoints { config.checkpointEvery = max(1, steps / Self.checkpointsPerRun) }
        return config
    }

    /// The synthetic set every run shares when the base names no data: generated once into `<output>/data`.
    private func sharedData() throws -> (rec: String, valTargets: [String]) {
        guard study.base.rec.isEmpty else { return (study.base.rec, study.base.valTargets) }
        let directory = output.appendingPathComponent("data")
        try TrainingData.ensureSynthetic(study.synthetic, in: directory) { report($0) }
        return (directory.path, [directory.appendingPathComponent(SynthWriter.verificationName).path])
    }
}
