import Dispatch
import Foundation
import MHLR
import Plots
import Training

/// `replay --sweep`: one recorded run replayed through every combination of swept scheduler parameters, the
/// combinations spread over all cores. Each combination is an ordinary `ReplayRun` of the spec with its
/// values applied, so a row equals the single replay with those parameters.
struct ReplaySweep {
    /// One swept parameter: its config name (window_fraction) and the values as given.
    struct Axis {
        var name: String
        var values: [String]

        /// Parses `window-fraction=0.01,0.015` (flag or config spelling); names outside the scheduler's
        /// parameters are errors that list them.
        init(parsing text: String) throws {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw CommandFailure("--sweep '\(text)': expected NAME=V1,V2,... (e.g. threshold=0.02,0.04)")
            }
            name = parts[0].trimmingCharacters(in: CharacterSet(charactersIn: "-")).replacingOccurrences(of: "-", with: "_")
            if name == "scheduler" { name = "name" }
            guard SchedulerSpec.parameterNames.contains(name) else {
                throw CommandFailure("--sweep '\(text)': '\(parts[0])' is not a scheduler parameter (known: "
                    + SchedulerSpec.parameterNames.sorted().joined(separator: ", ") + ")")
            }
            values = parts[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !values.isEmpty, !values.contains("") else {
                throw CommandFailure("--sweep '\(text)': give at least one value, separated by commas")
            }
        }

        /// A value as a config file would hold it: a whole number, a number, or text.
        static func configValue(_ text: String) -> Any {
            if let whole = Int(text) { return whole }
            if let number = Double(text) { return number }
            return text
        }
    }

    struct Row: Encodable {
        var parameters: [(name: String, value: String)]
        var decisions: Int
        var firstDecisionStep: Int?
        var finalLR: Double
        /// MHLR's stop_after_decays: the step after which it asked to stop.
        var stopStep: Int?
        var events: [LearningRateEvent]

        enum CodingKeys: String, CodingKey {
            case parameters, decisions, firstDecisionStep = "first_decision_step", finalLR = "final_lr", stopStep = "stop_step"
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.value) }), forKey: .parameters)
            try container.encode(decisions, forKey: .decisions)
            try container.encode(firstDecisionStep, forKey: .firstDecisionStep)
            try container.encode(finalLR, forKey: .finalLR)
            try container.encode(stopStep, forKey: .stopStep)
        }
    }

    let axes: [Axis]
    let initialLR: Double
    let rows: [Row]

    /// Replays `log` through `base` with every combination of `axes` applied (the first axis outermost).
    init(log: TrainingLog, base: SchedulerSpec, axes: [Axis]) throws {
        self.axes = axes
        var combinations: [[(name: String, value: String)]] = [[]]
        for axis in axes {
            combinations = combinations.flatMap { prefix in axis.values.map { prefix + [(axis.name, $0)] } }
        }
        let defaultBaseLR = log.entries.first?.learningRate
        let schedulers = try combinations.map { combination -> AnyScheduler in
            let overrides = Dictionary(uniqueKeysWithValues: combination.map { ($0.name, Axis.configValue($0.value)) })
            do {
                return try base.applying(overrides).makeScheduler(defaultTotalSteps: log.lastStep, defaultBaseLR: defaultBaseLR)
            } catch {
                let named = combination.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
                throw CommandFailure("--sweep combination \(named): \(error)")
            }
        }
        initialLR = schedulers.first?.learningRate ?? 0
        var results = [Row?](repeating: nil, count: schedulers.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: schedulers.count) { index in
            let replay = ReplayRun(log: log, scheduler: schedulers[index], tracePoints: 0)
            let scheduler = replay.recorder.scheduler
            var stopStep: Int?
            if case .mhlr(let mhlr) = scheduler { stopStep = mhlr.stopStep }
            let row = Row(parameters: combinations[index], decisions: replay.recorder.events.count,
                          firstDecisionStep: replay.recorder.events.first?.step, finalLR: scheduler.learningRate,
                          stopStep: stopStep, events: replay.recorder.events)
            lock.lock()
            results[index] = row
            lock.unlock()
        }
        rows = results.map { $0! }
    }

    func csv() -> String {
        var out = (axes.map(\.name) + ["decisions", "first_decision_step", "final_lr", "stop_step"]).joined(separator: ",") + "\n"
        for row in rows {
            let fields = row.parameters.map(\.value) + ["\(row.decisions)", row.firstDecisionStep.map(String.init) ?? "",
                                                        "\(row.finalLR)", row.stopStep.map(String.init) ?? ""]
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }

    func json(log: TrainingLog) throws -> String {
        struct Document: Encodable {
            var log: String
            var steps: Int
            var rows: [Row]
        }
        return String(decoding: try JSONEncoder.pretty.encode(Document(log: log.source, steps: log.lastStep, rows: rows)),
                      as: UTF8.self) + "\n"
    }

    /// Every combination's LR against the step, in one panel (log scale).
    func figure(logName: String, lastStep: Int) -> Figure {
        let colors = Palette.series
        let series = rows.enumerated().map { index, row -> Series in
            let x = [1.0] + row.events.map { Double($0.step) } + [Double(max(lastStep, 1))]
            let y = [initialLR] + row.events.map(\.newLR) + [row.finalLR]
            let name = row.parameters.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
            // Past the palette, the colours come round again dashed.
            return Series(name: name, x: x, y: y, color: colors[index % colors.count],
                          style: index < colors.count ? .step : .dashedStep)
        }
        let panel = Panel(title: "learning rate of each combination", yLabel: "LR", yScale: .log, series: series)
        return Figure(title: "haarface replay --sweep of \(logName): \(rows.count) combinations, \(lastStep) steps",
                      xLabel: "step", panels: [panel])
    }
}
