import ArgumentParser
import Foundation
import MHLR
import Plots
import Training

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a recorded training run through a scheduler: what would it have done?",
        discussion: """
            LOG is an arcface_torch / FastFace training.log (lines with 'Loss X ... LearningRate Y ... Global Step: S'; \
            other lines are ignored) or a CSV with a 'loss' column (one row per step; optional 'step' column). A logged \
            loss is the mean over the steps since the previous logged line; the replay feeds it once for every step \
            of that interval.
            CSV output: 'step,lr,event', one row per learning-rate change; step is the first step that runs with the \
            new LR, event is down or up.
            """)

    enum Format: String, ExpressibleByArgument { case csv, json }

    @Argument(help: "The training log or CSV to replay.")
    var log: String

    @OptionGroup var schedulerOptions: SchedulerOptions

    @Option(help: "Output: csv|json.")
    var format: Format = .csv

    @Option(help: "Also draw the run (loss, detector response, LR with every decision) as an SVG file; with --sweep, every combination's LR.")
    var plot: String?

    @Option(name: .customLong("sweep"), help: ArgumentHelp(
        "Replay every combination of these parameter values: NAME=V1,V2,... (any scheduler parameter, e.g. threshold=0.02,0.04 window-fraction=0.01,0.02); repeatable. One row per combination: the values, decisions, first decision's step, final LR.",
        valueName: "name=values"))
    var sweeps: [String] = []

    func validate() throws {
        if let plot, !plot.lowercased().hasSuffix(".svg") {
            throw ValidationError("--plot writes SVG: give a file name ending in .svg, not '\(plot)'")
        }
    }

    func run() throws {
        let trainingLog = try TrainingLog(contentsOf: URL(fileURLWithPath: log))
        if !sweeps.isEmpty { return try runSweep(trainingLog) }
        let scheduler = try schedulerOptions.makeScheduler(
            defaultTotalSteps: trainingLog.lastStep,
            defaultBaseLR: trainingLog.entries.first?.learningRate)
        let replay = ReplayRun(log: trainingLog, scheduler: scheduler, tracePoints: plot == nil ? 0 : 3000)

        switch format {
        case .csv: writeStandardOutput(replay.csv())
        case .json: writeStandardOutput(try replay.json(kind: schedulerOptions.kind))
        }
        if let plot {
            let svg = replay.figure(logName: (log as NSString).lastPathComponent).svg()
            do {
                try AtomicFile.write(Data(svg.utf8), to: URL(fileURLWithPath: plot))
            } catch {
                throw CommandFailure("\(plot): cannot write the plot (\(error))")
            }
        }
    }
}

extension ReplayCommand {
    func runSweep(_ trainingLog: TrainingLog) throws {
        let axes = try sweeps.map(ReplaySweep.Axis.init(parsing:))
        if let repeated = Dictionary(grouping: axes, by: \.name).first(where: { $0.value.count > 1 })?.key {
            throw CommandFailure("--sweep: '\(repeated)' is swept twice; give all its values in one --sweep")
        }
        let sweep = try ReplaySweep(log: trainingLog, base: schedulerOptions.spec, axes: axes)
        switch format {
        case .csv: writeStandardOutput(sweep.csv())
        case .json: writeStandardOutput(try sweep.json(log: trainingLog))
        }
        if let plot {
            let svg = sweep.figure(logName: (log as NSString).lastPathComponent, lastStep: trainingLog.lastStep).svg()
            do {
                try AtomicFile.write(Data(svg.utf8), to: URL(fileURLWithPath: plot))
            } catch {
                throw CommandFailure("\(plot): cannot write the plot (\(error))")
            }
        }
    }
}

/// A training log fed through a scheduler, with the learning-rate events and, for plots, a sampled trace.
struct ReplayRun {
    let log: TrainingLog
    let initialLR: Double
    let recorder: ScheduleRecorder<AnyScheduler>
    let trace: ScheduleTrace

    init(log: TrainingLog, scheduler: AnyScheduler, tracePoints: Int) {
        self.log = log
        initialLR = scheduler.learningRate
        var recorder = ScheduleRecorder(scheduler)
        var trace = ScheduleTrace(totalSteps: log.lastStep, maxPoints: max(1, tracePoints))
        let tracing = tracePoints > 0
        log.forEachStep(startingEpoch: { _ in recorder.noteEpochBoundary() }) { step, loss in
            recorder.step(loss: loss)
            if tracing { trace.record(step: step, scheduler: recorder.scheduler, force: step == log.lastStep) }
        }
        self.recorder = recorder
        self.trace = trace
    }

    func figure(logName: String) -> Figure {
        var figure = ScheduleFigure(
            title: "haarface replay of \(logName) through \(recorder.scheduler.kindName): \(log.lastStep) steps",
            loss: log.entries.map { (Double($0.step), $0.loss) }, initialLR: initialLR, scheduler: recorder.scheduler,
            trace: trace, events: recorder.events)
        figure.loggedLR = log.entries.compactMap { entry in entry.learningRate.map { (Double(entry.step), $0) } }
        return figure.figure()
    }

    func csv() -> String {
        var out = "step,lr,event\n"
        out.reserveCapacity(32 * recorder.events.count + 16)
        for event in recorder.events {
            out += "\(event.step),\(event.newLR),\(event.change.rawValue)\n"
        }
        return out
    }

    struct Summary: Encodable {
        struct Event: Encodable {
            var step: Int
            var oldLR: Double
            var newLR: Double
            var event: String
            enum CodingKeys: String, CodingKey { case step, oldLR = "old_lr", newLR = "new_lr", event }
        }
        var log: String
        var scheduler: String
        var initialLR: Double
        var finalLR: Double
        var stepsReplayed: Int
        var nonFiniteLosses: Int
        var events: [Event]
        enum CodingKeys: String, CodingKey {
            case log, scheduler, initialLR = "initial_lr", finalLR = "final_lr", stepsReplayed = "steps_replayed"
            case nonFiniteLosses = "non_finite_losses", events
        }
    }

    func json(kind: SchedulerKind) throws -> String {
        let summary = Summary(
            log: log.source, scheduler: kind.rawValue, initialLR: initialLR,
            finalLR: recorder.scheduler.learningRate, stepsReplayed: recorder.scheduler.stepsFed,
            nonFiniteLosses: recorder.scheduler.nonFiniteLosses,
            events: recorder.events.map { .init(step: $0.step, oldLR: $0.oldLR, newLR: $0.newLR, event: $0.change.rawValue) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(summary), as: UTF8.self) + "\n"
    }
}

/// Writes all of `text` to standard output at once.
func writeStandardOutput(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// A failure worth one line on standard error (ArgumentParser prints "Error: " and the message, exit 1).
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}
