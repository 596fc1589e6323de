import FaceEval
import Foundation
import MHLR
import Plots

/// One finished run of a study, read back from its own files: `summary.json` (times, images, verifications),
/// `metrics.csv` (per-step loss, LR and speed) and the checkpoint's `trainer.json` (its settings).
public struct RunRecord: Codable {
    public var arm: String
    public var seed: UInt64
    public var network: String
    public var scheduler: String
    /// Epochs trained (below the arm's num_epoch when its scheduler ended the run).
    public var epochs: Double
    public var steps: Int
    public var trainingSeconds: Double
    public var verificationSeconds: Double
    public var trainingImages: Int
    /// Median of the per-step images/s in metrics.csv.
    public var medianImagesPerSecond: Double
    public var finalAccuracy: Double
    public var finalStandardDeviation: Double
    public var bestAccuracy: Double
    public var finalTARAtFAR1e3: Double?
    /// LR decisions of an adaptive scheduler (mhlr, fastface, plateau); nil for a fixed schedule.
    public var decisions: Int?
    /// Held-out accuracy over training time: (seconds of training before the verification, accuracy).
    public var accuracyCurve: [AccuracyPoint]
    /// Whether its speed is within 20% of the study's median for its network (set by `ComparisonResult`).
    public var comparableSpeed = true

    public struct AccuracyPoint: Codable, Equatable {
        public var step: Int
        public var trainingSeconds: Double
        public var accuracy: Double
    }

    public init(arm: String, seed: UInt64, directory: URL) throws {
        let summaryURL = directory.appendingPathComponent(Trainer.summaryFile)
        let summary: TrainingSummary
        do {
            summary = try JSONDecoder().decode(TrainingSummary.self, from: Data(contentsOf: summaryURL))
        } catch {
            throw ConfigError(file: summaryURL.path, message: "not a finished run's summary (\(error))")
        }
        let config = try Trainer.savedConfig(in: directory)
        let rows = try MetricsRow.read(directory.appendingPathComponent("metrics.csv"))
        guard rows.count == summary.steps else {
            throw ConfigError(file: directory.appendingPathComponent("metrics.csv").path,
                              message: "\(rows.count) rows for the \(summary.steps) steps of summary.json")
        }
        let records = summary.verifications.filter { $0.target == summary.verifications.last?.target }
        guard let last = records.last else {
            throw ConfigError(file: summaryURL.path, message: "the run has no verification: a study needs held-out pairs (val_targets)")
        }
        self.arm = arm
        self.seed = seed
        network = config.network
        scheduler = config.scheduler.kind.rawValue
        epochs = summary.epochs
        steps = summary.steps
        trainingSeconds = summary.trainingSeconds
        verificationSeconds = summary.verificationSeconds
        trainingImages = summary.trainingImages
        medianImagesPerSecond = rows.map(\.imagesPerSecond).median
        finalAccuracy = last.accuracy
        finalStandardDeviation = last.standardDeviation
        bestAccuracy = records.map(\.accuracy).max()!
        finalTARAtFAR1e3 = last.tarAtFAR?.first { $0.far == 1e-3 }?.tar
        decisions = [.mhlr, .fastface, .plateau].contains(config.scheduler.kind) ? summary.learningRateChanges : nil
        accuracyCurve = records.map { AccuracyPoint(step: $0.step, trainingSeconds: $0.trainingSeconds ?? 0, accuracy: $0.accuracy) }
    }
}

/// The study's table: one row per arm (means over seeds), the verdict of each arm against the reference, and
/// the figures. Written as compare.json, compare.md and compare.svg.
public struct ComparisonResult: Codable {
    public struct ArmRow: Codable {
        public var name: String
        /// Means over seeds (they differ between seeds when the scheduler chooses when to stop).
        public var epochs: Double
        public var steps: Int
        public var seeds: Int
        public var trainingSeconds: Double
        public var verificationSeconds: Double
        /// Mean training seconds over the reference arm's.
        public var timeRatio: Double
        /// Images trained on over the reference arm's (deterministic, unlike seconds).
        public var imageRatio: Double
        public var accuracyMean: Double
        /// Standard deviation over seeds of the final accuracy (0 with one seed).
        public var accuracyStandardDeviation: Double
        public var bestAccuracyMean: Double
        public var tarAtFAR1e3Mean: Double?
        public var decisionsMean: Double?
        public var medianImagesPerSecond: Double
        /// Seeds whose speed was more than 20% off the study's median for the network.
        public var slowOrFastSeeds: [UInt64]
    }

    public var source: String
    public var reference: String
    public var arms: [ArmRow]
    public var runs: [RunRecord]
    public var verdicts: [String]
    /// Seconds the command spent outside the training runs.
    public var overheadSeconds = 0.0

    /// How far a run's median images/s may stray from the study's median for its network and still count.
    public static let speedTolerance = 0.2

    public init(study: Study, runs: [RunRecord]) throws {
        source = study.source
        reference = study.reference
        var runs = runs
        let speedByNetwork = Dictionary(grouping: runs, by: \.network).mapValues { $0.map(\.medianImagesPerSecond).median }
        for index in runs.indices {
            let median = speedByNetwork[runs[index].network]!
            runs[index].comparableSpeed = abs(runs[index].medianImagesPerSecond / median - 1) <= Self.speedTolerance
        }
        self.runs = runs
        let referenceRuns = runs.filter { $0.arm == study.reference }
        let referenceSeconds = referenceRuns.map(\.trainingSeconds).mean
        let referenceImages = referenceRuns.map { Double($0.trainingImages) }.mean
        arms = study.arms.map { arm in
            let own = runs.filter { $0.arm == arm.name }
            let accuracies = own.map(\.finalAccuracy)
            let tars = own.compactMap(\.finalTARAtFAR1e3), decisions = own.compactMap(\.decisions)
            return ArmRow(
                name: arm.name, epochs: own.map(\.epochs).mean, steps: Int(own.map { Double($0.steps) }.mean.rounded()), seeds: own.count,
                trainingSeconds: own.map(\.trainingSeconds).mean, verificationSeconds: own.map(\.verificationSeconds).mean,
                timeRatio: own.map(\.trainingSeconds).mean / referenceSeconds,
                imageRatio: own.map { Double($0.trainingImages) }.mean / referenceImages,
                accuracyMean: accuracies.mean, accuracyStandardDeviation: accuracies.standardDeviation,
                bestAccuracyMean: own.map(\.bestAccuracy).mean,
                tarAtFAR1e3Mean: tars.count == own.count ? tars.mean : nil,
                decisionsMean: decisions.count == own.count && !own.isEmpty ? decisions.map(Double.init).mean : nil,
                medianImagesPerSecond: own.map(\.medianImagesPerSecond).median,
                slowOrFastSeeds: own.filter { !$0.comparableSpeed }.map(\.seed))
        }
        let referenceRow = arms.first { $0.name == study.reference }!
        verdicts = arms.filter { $0.name != study.reference }.map { row in
            var verdict = String(format: "%@ vs %@: accuracy %+.1f points (%.2f%% vs %.2f%%) at %.2fx the time (%.2fx the images)",
                                 row.name, referenceRow.name, 100 * (row.accuracyMean - referenceRow.accuracyMean),
                                 100 * row.accuracyMean, 100 * referenceRow.accuracyMean, row.timeRatio, row.imageRatio)
            let flagged = row.slowOrFastSeeds.map { "\(row.name) seed \($0)" }
                + referenceRow.slowOrFastSeeds.map { "\(referenceRow.name) seed \($0)" }
            if !flagged.isEmpty {
                verdict += "; time not comparable: \(flagged.joined(separator: ", ")) ran more than "
                    + "\(Int(100 * Self.speedTolerance))% off the study's median speed (the image ratio stands)"
            }
            return verdict
        }
    }

    public func write(to directory: URL) throws {
        try AtomicFile.write(try JSONEncoder.pretty.encode(self), to: directory.appendingPathComponent("compare.json"))
        try AtomicFile.write(Data(markdown().utf8), to: directory.appendingPathComponent("compare.md"))
        try AtomicFile.write(Data(svg(runsIn: directory).utf8), to: directory.appendingPathComponent("compare.svg"))
    }

    public func markdown() -> String {
        var text = "# Schedule comparison\n\nStudy: `\(source)`; reference arm: `\(reference)`; "
            + "\(Set(runs.map(\.seed)).count) seed(s). Means over seeds; training seconds exclude verification "
            + "(reported apart).\n\n![time to accuracy, loss and LR of every arm](compare.svg)\n\n"
        text += "| arm | epochs | steps | training s | verification s | time ratio | image ratio | final accuracy (%) "
            + "| best accuracy (%) | TAR@FAR=1e-3 (%) | LR decisions | median images/s |\n"
        text += "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        for row in arms {
            let tar = row.tarAtFAR1e3Mean.map { String(format: "%.2f", 100 * $0) } ?? "-"
            let decisions = row.decisionsMean.map { String(format: "%.1f", $0) } ?? "fixed"
            let speed = String(format: "%.1f", row.medianImagesPerSecond) + (row.slowOrFastSeeds.isEmpty ? "" : " (!)")
            text += String(format: "| %@ | %.3g | %d | %.1f | %.1f | %.2f | %.2f | %.2f +- %.2f | %.2f | %@ | %@ | %@ |\n",
                           row.name, row.epochs, row.steps, row.trainingSeconds, row.verificationSeconds, row.timeRatio,
                           row.imageRatio, 100 * row.accuracyMean, 100 * row.accuracyStandardDeviation,
                           100 * row.bestAccuracyMean, tar, decisions, speed)
        }
        text += "\n## Verdicts\n\n" + verdicts.map { "- \($0)\n" }.joined()
        let flagged = runs.filter { !$0.comparableSpeed }
        if !flagged.isEmpty {
            text += "\n(!) Runs whose median speed was more than \(Int(100 * Self.speedTolerance))% off the study's median "
                + "for their network (their seconds are not comparable): "
                + flagged.map { String(format: "%@ seed %llu (%.1f images/s)", $0.arm, $0.seed, $0.medianImagesPerSecond) }
                    .joined(separator: ", ") + ".\n"
        }
        text += "\n## Runs\n\n| arm | seed | epochs | steps | training s | images/s | final accuracy (%) | best (%) | LR decisions |\n"
            + "|---|---|---|---|---|---|---|---|---|\n"
        for run in runs {
            text += String(format: "| %@ | %llu | %.3g | %d | %.1f | %.1f | %.2f | %.2f | %@ |\n", run.arm, run.seed, run.epochs, run.steps,
                           run.trainingSeconds, run.medianImagesPerSecond, 100 * run.finalAccuracy, 100 * run.bestAccuracy,
                           run.decisions.map(String.init) ?? "fixed")
        }
        text += String(format: "\nThe command's own time outside the training runs: %.2f s.\n", overheadSeconds)
        return text
    }

    /// Held-out accuracy against training seconds (mean over seeds at each verification), then the loss and the
    /// LR against the fraction of the run (the first seed), every arm in each panel.
    func svg(runsIn directory: URL) throws -> String {
        var accuracy: [Series] = [], loss: [Series] = [], rate: [Series] = []
        for (index, row) in arms.enumerated() {
            let color = Palette.series[index % Palette.series.count]
            let dashed = index >= Palette.series.count   // past the palette the colours come round again, dashed
            let own = runs.filter { $0.arm == row.name }
            let points = own.map(\.accuracyCurve.count).min() ?? 0
            let seconds = (0..<points).map { i in own.map { $0.accuracyCurve[i].trainingSeconds }.mean }
            let values = (0..<points).map { i in 100 * own.map { $0.accuracyCurve[i].accuracy }.mean }
            accuracy.append(Series(name: row.name, x: [0] + seconds, y: [50] + values, color: color,
                                   style: dashed ? .dashed : .line, lineWidth: 2))
            guard let first = own.first else { continue }
            let rows = try MetricsRow.read(directory.appendingPathComponent(row.name)
                .appendingPathComponent("seed-\(first.seed)").appendingPathComponent("metrics.csv"))
            let total = Double(max(1, rows.count))
            let smoothed = Self.movingAverage(rows.map(\.loss), window: max(1, rows.count / 50))
            let sampled = envelope(rows.indices.map { (Double(rows[$0].step) / total, smoothed[$0]) }, maxPoints: 400)
            loss.append(Series(name: row.name, x: sampled.map(\.0), y: sampled.map(\.1), color: color,
                               style: dashed ? .dashed : .line, lineWidth: 1.5))
            let lr = rows.map { (Double($0.step) / total, $0.learningRate) }
            let thinned = lr.count > 2000 ? stride(from: 0, to: lr.count, by: lr.count / 1000).map { lr[$0] } + [lr.last!] : lr
            rate.append(Series(name: row.name, x: thinned.map(\.0), y: thinned.map(\.1), color: color,
                               style: dashed ? .dashedStep : .step, lineWidth: 1.5))
        }
        var time = Figure(title: "Time to accuracy: held-out verification accuracy (mean over seeds) against training seconds",
                          xLabel: "training seconds (verification excluded)",
                          panels: [Panel(title: "Held-out accuracy (10-fold, flip test); starts at chance", yLabel: "accuracy (%)",
                                         series: accuracy)])
        time.panelHeight = 320
        let schedule = Figure(title: "Loss and learning rate against the fraction of each run (first seed)",
                              xLabel: "fraction of the run",
                              panels: [Panel(title: "Training loss (moving average over 2% of the run)", yLabel: "loss", series: loss),
                                       Panel(title: "Learning rate (log scale)", yLabel: "learning rate", yScale: .log, series: rate)])
        return Figure.stackedSVG([time, schedule])
    }

    static func movingAverage(_ values: [Double], window: Int) -> [Double] {
        var out: [Double] = [], sum = 0.0
        out.reserveCapacity(values.count)
        for (index, value) in values.enumerated() {
            sum += value
            if index >= window { sum -= values[index - window] }
            out.append(sum / Double(min(index + 1, window)))
        }
        return out
    }
}

extension Array where Element == Double {
    var mean: Double { isEmpty ? .nan : reduce(0, +) / Double(count) }

    /// Sample standard deviation (n - 1); 0 for fewer than two values.
    var standardDeviation: Double {
        guard count > 1 else { return 0 }
        let m = mean
        return (map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(count - 1)).squareRoot()
    }
}
