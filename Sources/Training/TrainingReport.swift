import FaceEval
import Foundation
import MHLR
import Plots

/// One verification of one target at one step, as the log lines report it.
public struct VerificationRecord: Codable, Equatable, Sendable {
    public var step: Int
    public var target: String
    public var accuracy: Double
    public var standardDeviation: Double
    public var xNorm: Double
    /// Seconds of training (verification excluded) before this verification.
    public var trainingSeconds: Double?
    /// TAR at insightface's false accept rates (1e-4, 1e-3, 1e-2).
    public var tarAtFAR: [TARAtFAR]?

    public init(step: Int, target: String, accuracy: Double, standardDeviation: Double, xNorm: Double) {
        self.step = step
        self.target = target
        self.accuracy = accuracy
        self.standardDeviation = standardDeviation
        self.xNorm = xNorm
    }
}

/// The end-of-run report: `report.md` with the run's figures and `report.svg` with its curves.
public struct TrainingReport {
    public var title: String
    /// Settings worth a reader's eye, in order: ("network", "r18"), ...
    public var settings: [(String, String)]
    /// Measured figures, in order: ("steps", "1200"), ("images/s (median)", "41.2"), ...
    public var figures: [(String, String)]
    public var schedule: ScheduleFigure
    public var verifications: [VerificationRecord]
    /// Extra Markdown paragraphs (e.g. the pixel baseline of the synthetic pairs).
    public var notes: [String] = []

    public init(title: String, settings: [(String, String)], figures: [(String, String)], schedule: ScheduleFigure,
                verifications: [VerificationRecord]) {
        self.title = title
        self.settings = settings
        self.figures = figures
        self.schedule = schedule
        self.verifications = verifications
    }

    public func figure() -> Figure {
        var schedule = self.schedule
        let targets = Array(Set(verifications.map(\.target))).sorted()
        if !targets.isEmpty {
            let colors = [Palette.blue, Palette.orange, Palette.green, Palette.purple, Palette.sky, Palette.black]
            let series = targets.enumerated().map { index, target -> Series in
                let records = verifications.filter { $0.target == target }.sorted { $0.step < $1.step }
                return Series(name: target, x: records.map { Double($0.step) }, y: records.map { 100 * $0.accuracy },
                              color: colors[index % colors.count], lineWidth: 2)
            }
            schedule.extraPanels.append(Panel(title: "Verification accuracy (10-fold, flip test)", yLabel: "accuracy (%)",
                                              series: series))
        }
        return schedule.figure()
    }

    /// Writes `report.md` and `report.svg` into `directory`, each atomically.
    public func write(to directory: URL) throws {
        try AtomicFile.write(Data(figure().svg().utf8), to: directory.appendingPathComponent("report.svg"))
        try AtomicFile.write(Data(markdown().utf8), to: directory.appendingPathComponent("report.md"))
    }

    public func markdown() -> String {
        var text = "# \(title)\n\n![loss, scheduler and accuracy curves](report.svg)\n\n## Settings\n\n| setting | value |\n|---|---|\n"
        for (name, value) in settings { text += "| \(name) | \(value) |\n" }
        text += "\n## Figures\n\n| figure | value |\n|---|---|\n"
        for (name, value) in figures { text += "| \(name) | \(value) |\n" }
        if !verifications.isEmpty {
            text += "\n## Verification\n\n| step | target | accuracy (%) | std (%) | XNorm |\n|---|---|---|---|---|\n"
            for record in verifications.sorted(by: { ($0.step, $0.target) < ($1.step, $1.target) }) {
                text += String(format: "| %d | %@ | %.2f | %.2f | %.3f |\n", record.step, record.target,
                               100 * record.accuracy, 100 * record.standardDeviation, record.xNorm)
            }
        }
        text += "\n## Learning-rate decisions (\(schedule.scheduler.kindName))\n\n"
        if schedule.events.isEmpty {
            text += "None: the learning rate stayed at \(schedule.initialLR).\n"
        } else if schedule.events.count > 50 {
            text += "\(schedule.events.count) changes (a closed-form schedule); the figure shows them.\n"
        } else {
            text += "| first step with it | old LR | new LR | change |\n|---|---|---|---|\n"
            for event in schedule.events {
                text += "| \(event.step) | \(event.oldLR) | \(event.newLR) | \(event.change.rawValue) |\n"
            }
        }
        for note in notes { text += "\n\(note)\n" }
        return text
    }
}
