import Engine
import FaceData
import FaceEval
import Foundation
import MHLR
import NN

/// A run that cannot continue: names the step and what went wrong, and where the last good state is.
public struct TrainingError: Error, CustomStringConvertible {
    public var description: String
}

/// What a finished (or stopped) run measured.
public struct TrainingSummary: Codable, Sendable {
    public var steps: Int
    /// Epochs trained: steps over steps per epoch (below num_epoch when the scheduler ended the run).
    public var epochs: Double
    /// Why the run ended before num_epoch (the scheduler asked); nil when it ran to the end.
    public var stopReason: String?
    public var imagesPerSecond: Double
    /// Share of the step's wall time spent outside forward, backward and the optimiser (data, loss
    /// read-back, scheduler, logging).
    public var overheadFraction: Double
    public var finalLoss: Double
    public var finalLearningRate: Double
    public var learningRateChanges: Int
    public var skippedNonFiniteSteps: Int
    public var skippedBadImages: Int
    public var verifications: [VerificationRecord]
    /// Wall-clock seconds of the training steps (data, forward, backward, update, scheduler, logging);
    /// verification and checkpoint writing are counted apart.
    public var trainingSeconds: Double
    public var verificationSeconds: Double
    public var checkpointSeconds: Double
    /// Images trained on (the steps' batches): a measure of the work that does not depend on the machine.
    public var trainingImages: Int
    public var output: String
}

/// arcface_torch's training loop (train_v2.py) with a HaarFace scheduler: each step runs the backbone, the
/// margin-softmax head with Partial FC, backward, clips the backbone's gradient norm at 5, steps SGD (every
/// `gradient_acc` steps), then feeds the step's loss to the scheduler, which sets the next step's LR.
public final class Trainer {
    public struct Options {
        public var resume = false
        /// Draw a progress line on standard error (when it is a terminal).
        public var showProgress = true
        /// Also print training.log's lines on standard output.
        public var echoLog = true
        /// Fault injection for tests of the non-finite-loss path: this step's batch gets a NaN pixel.
        var injectedNonFiniteStep = FaultInjection.nonFiniteStep
        public init() {}
    }

    public let config: TrainingConfig
    public let outputDirectory: URL
    private let options: Options
    private let data: TrainingData
    private let backbone: any UnaryLayer
    private let head: PartialFC
    private let optimizer: any Optimizer
    private let update: GradientAccumulation
    private let loader: Loader
    private let loaderOptions: LoaderOptions
    private let log: ArcfaceLog
    private let metrics: MetricsFile
    private let tensorBoard: TensorBoardLog?
    private let checkpoints: CheckpointStore
    private let totalSteps: Int
    private let validation: [(name: String, images: [RGBImage], sameIdentity: [Bool])]
    private let progress: ProgressLine?

    private var state: TrainerState

    /// Sets up a run: resolves the data (generating the synthetic default if needed), builds the model, head,
    /// optimiser and scheduler, and, with `options.resume`, restores the newest checkpoint in the output folder.
    public init(config: TrainingConfig, synthetic: SynthConfig, options: Options = Options()) throws {
        var config = config
        outputDirectory = URL(fileURLWithPath: config.output)
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        checkpoints = CheckpointStore(directory: outputDirectory)
        var restored: (state: TrainerState, folder: URL)?
        if options.resume {
            let (saved, folder) = try Self.savedState(in: outputDirectory)
            config = try TrainingConfig.resumed(saved: saved.config, requested: config,
                                                checkpoint: folder.appendingPathComponent("trainer.json").path)
            restored = (saved, folder)
            restored!.state.config = config
        }
        try config.validate()
        self.config = config
        self.options = options

        var notes: [String] = []
        data = try TrainingData.resolve(config, synthetic: synthetic, outputDirectory: outputDirectory) { notes.append($0) }
        let codec = JPEGCodec()
        validation = try data.validation.map { set in
            let images = try set.images.isEmpty ? set.decodedImages : set.images.enumerated().map { index, bytes in
                try codec.decode(bytes, source: "\(set.name) image \(index)")
            }
            return (set.name, images, set.sameIdentity)
        }

        backbone = try Backbone.make(network: config.network, embeddingSize: config.embeddingSize,
                                     imageSize: config.imageSize, seed: config.seed)
        let margin = try CombinedMargin(scale: Float(config.scale), m1: Float(config.marginList[0]), m2: Float(config.marginList[1]),
                                    m3: Float(config.marginList[2]),
                                    interclassFilteringThreshold: Float(config.interclassFilteringThreshold),
                                    derivative: config.exactMarginGradient ? .exact : .constantShift)
        head = try PartialFC(margin: margin, embeddingSize: config.embeddingSize, classCount: data.source.classCount,
                             sampleRate: config.sampleRate, seed: config.seed &+ 1)
        optimizer = try Self.makeOptimizer(config, backbone: backbone, head: head)
        update = GradientAccumulation(backboneParameters: backbone.trainableParameters, optimizer: optimizer,
                                      stepsPerUpdate: config.gradientAcc)

        loaderOptions = LoaderOptions(batchSize: config.batchSize, imageWidth: config.imageSize,
                                          imageHeight: config.imageSize, seed: config.seed,
                                          workerCount: config.numWorkers, skipBadImages: config.skipBadImages)
        loader = try Loader(source: data.source, options: loaderOptions, resumeFrom: restored?.state.loader ?? LoaderState())
        guard loader.batchesPerEpoch > 0 else {
            throw TrainingError(description: "\(data.summary): fewer images than one batch of \(config.batchSize)")
        }
        totalSteps = loader.batchesPerEpoch * config.numEpoch

        var spec = config.scheduler
        if spec.kind == .poly && spec.warmupSteps == nil { spec.warmupSteps = config.warmupEpoch * loader.batchesPerEpoch }
        let scheduler: AnyScheduler
        do {
            scheduler = try spec.resolvingEpochs(stepsPerEpoch: loader.batchesPerEpoch)
                .makeScheduler(defaultTotalSteps: totalSteps, defaultBaseLR: config.lr)
        } catch {
            throw ConfigError(file: "config", message: "scheduler: \(error)")
        }

        if let (saved, folder) = restored {
            state = saved
            try backbone.loadState(contentsOf: folder.appendingPathComponent("backbone.safetensors"))
            try head.loadWeight(contentsOf: folder.appendingPathComponent("head.safetensors"))
            head.generator = saved.headGenerator
            // After the weights: schedule-free SGD sets them to its training point from its state.
            let optimizerURL = folder.appendingPathComponent("optimizer.safetensors")
            try optimizer.loadState(try SafeTensors.read(contentsOf: optimizerURL), source: optimizerURL.path)
        } else {
            if !config.initFrom.isEmpty {
                try ModelCheckpoint.initialize(backbone, from: URL(fileURLWithPath: config.initFrom), network: config.network,
                                               embeddingSize: config.embeddingSize, imageSize: config.imageSize)
                notes.append("backbone initialised from \(config.initFrom)")
            }
            state = TrainerState(config: config, globalStep: 0, loader: LoaderState(), schedule: ScheduleRecorder(scheduler),
                                 trace: ScheduleTrace(totalSteps: totalSteps), headGenerator: head.generator,
                                 verifications: [], highestAccuracy: [:], skippedNonFiniteSteps: 0, skippedBadImages: 0,
                                 logBytes: 0, metricsBytes: 0, trainingSeconds: 0, verificationSeconds: 0, checkpointSeconds: 0,
                                 trainingImages: 0)
        }
        log = try ArcfaceLog(url: outputDirectory.appendingPathComponent("training.log"), frequent: config.frequent,
                             batchSize: config.batchSize, totalSteps: totalSteps, startStep: state.globalStep,
                             truncatingTo: restored == nil ? nil : state.logBytes, echo: options.echoLog)
        metrics = try MetricsFile(url: outputDirectory.appendingPathComponent("metrics.csv"),
                                  truncatingTo: restored == nil ? nil : state.metricsBytes)
        var tensorBoardNotes: [String] = []
        tensorBoard = config.tensorboard
            ? try TensorBoardLog(outputDirectory: outputDirectory, continuing: restored == nil ? nil : state.tensorBoard) {
                tensorBoardNotes.append($0)
            }
            : nil
        progress = options.showProgress && isatty(2) == 1 ? ProgressLine() : nil

        if let restored {
            try log.write("resumed from \(restored.folder.path) at step \(state.globalStep)")
            if let note = Self.resumeNote(restored.folder) { try log.write(note) }
            for note in tensorBoardNotes { try log.write(note) }
        } else {
            for note in notes { try log.write(note) }
            try log.write("data: \(data.summary); \(loader.batchesPerEpoch) steps per epoch, \(totalSteps) steps in all")
            try log.write(String(format: "network %@ (%.2fM parameters) at %dx%d, embedding %d, margin %@, sample_rate %g, scheduler %@",
                             config.network, Double(backbone.parameterCount) / 1e6, config.imageSize, config.imageSize,
                             config.embeddingSize, "\(config.marginList)", config.sampleRate, scheduler.kindName))
        }
    }

    /// The settings of the newest checkpoint in `output` (what `--resume` continues).
    public static func savedConfig(in output: URL) throws -> TrainingConfig {
        try savedState(in: output).state.config
    }

    /// Whether a periodic checkpoint follows `step`: checkpoints hold no half-accumulated gradients, so
    /// with `gradient_acc` > 1 the checkpoint due at a multiple of `every` is written at the first weight
    /// update at or after it, which keeps `--resume` exact.
    static func writesCheckpoint(after step: Int, every: Int, gradientAcc: Int) -> Bool {
        guard every > 0, step % gradientAcc == 0 else { return false }
        return step / every > (step - gradientAcc) / every
    }

    /// Trains to the end of the last epoch, writing checkpoints, logs and the report.
    @discardableResult
    public func run() throws -> TrainingSummary {
        var engineSeconds = 0.0, stepSeconds = 0.0, lastLoss = Double.nan
        var imagesPerSecond: [Double] = []
        backbone.train()
        while state.globalStep < totalSteps && !state.schedule.scheduler.stopRequested {
            let stepStart = Self.now()
            let batch = try loader.next()
            let step = state.globalStep + 1
            let learningRate = state.schedule.scheduler.learningRate
            optimizer.setLearningRate(Float(learningRate))

            let engineStart = Self.now()
            var images = Tensor(shape: [batch.labels.count, 3, config.imageSize, config.imageSize],
                                values: FaultInjection.pixels(batch.images, step: step, nonFiniteStep: options.injectedNonFiniteStep))
            if config.fp16 { images = try images.converted(to: .bfloat16) }
            let labels = batch.labels.map(Int.init)
            let statistics = config.skipNonfinite ? RunningStatistics(of: backbone) : nil
            let loss = try head.loss(try backbone(images), labels: labels)
            let lossValue = Double(try loss.item())
            if lossValue.isFinite {
                try update.backward(loss, step: step)
            } else if config.skipNonfinite {
                state.skippedNonFiniteSteps += 1
                statistics?.restore()
                try log.write("step \(step): the loss is \(lossValue); step skipped (\(state.skippedNonFiniteSteps) so far)")
            } else {
                try log.write("step \(step): the loss is \(lossValue); stopping")
                progress?.finish()
                let last = checkpoints.latest().map { "the last good checkpoint is \($0.path); continue with --resume" }
                    ?? "no checkpoint was written yet"
                throw TrainingError(description: "step \(step) (epoch \(batch.epoch)): the loss is \(lossValue), not a number; "
                    + "stopped before updating the weights, \(last), or pass --skip-nonfinite to skip such steps")
            }
            engineSeconds += Self.now() - engineStart

            state.globalStep = step
            state.loader = loader.state
            state.skippedBadImages += batch.skipped.count
            if step > 1 && (step - 1) % loader.batchesPerEpoch == 0 { state.schedule.noteEpochBoundary() }
            let nextLR = state.schedule.step(loss: lossValue)
            let isLast = step == totalSteps || state.schedule.scheduler.stopRequested
            state.trace.record(step: step, scheduler: state.schedule.scheduler, force: isLast)
            try log.step(step, loss: lossValue, learningRate: nextLR, epoch: batch.epoch)
            let seconds = Self.now() - stepStart
            stepSeconds += seconds
            state.trainingSeconds += seconds
            state.trainingImages += batch.labels.count
            let speed = MetricsFile.recorded(imagesPerSecond: Double(batch.labels.count) / seconds)
            imagesPerSecond.append(Double(batch.labels.count) / seconds)
            try metrics.append(step: step, epoch: batch.epoch, loss: lossValue, learningRate: learningRate,
                               imagesPerSecond: speed)
            try tensorBoard?.step(step, loss: lossValue, learningRate: learningRate, imagesPerSecond: speed,
                                  haarResponse: state.schedule.scheduler.haarResponse)
            if lossValue.isFinite { lastLoss = lossValue }
            progress?.update(step: step, total: totalSteps, epoch: batch.epoch, epochs: config.numEpoch, loss: lossValue,
                             learningRate: nextLR, imagesPerSecond: imagesPerSecond.suffix(20).median)

            if state.schedule.scheduler.stopRequested, let reason = stopReason { try log.write(reason) }
            if step % config.verbose == 0 || isLast {
                let start = Self.now()
                try verify(step: step)
                state.verificationSeconds += Self.now() - start
            }
            if Self.writesCheckpoint(after: step, every: config.checkpointEvery, gradientAcc: config.gradientAcc)
                || isLast {
                let start = Self.now()
                try saveCheckpoint()
                state.checkpointSeconds += Self.now() - start
            }
        }
        progress?.finish()
        _ = try tensorBoard?.flush()
        if !lastLoss.isFinite {   // no step ran here (a resumed run that had already ended): the log has the last
            _ = try metrics.flush()
            let rows = try MetricsRow.read(outputDirectory.appendingPathComponent("metrics.csv"))
            lastLoss = rows.last { $0.loss.isFinite }?.loss ?? 0
        }
        try atEvaluationWeights {
            try backbone.saveState(to: outputDirectory.appendingPathComponent("model.safetensors"), metadata: modelMetadata)
        }

        let summary = TrainingSummary(
            steps: state.globalStep, epochs: Double(state.globalStep) / Double(loader.batchesPerEpoch), stopReason: stopReason,
            imagesPerSecond: imagesPerSecond.median,
            overheadFraction: stepSeconds > 0 ? max(0, 1 - engineSeconds / stepSeconds) : 0, finalLoss: lastLoss,
            finalLearningRate: state.schedule.scheduler.learningRate, learningRateChanges: state.schedule.events.count,
            skippedNonFiniteSteps: state.skippedNonFiniteSteps, skippedBadImages: state.skippedBadImages,
            verifications: state.verifications, trainingSeconds: state.trainingSeconds,
            verificationSeconds: state.verificationSeconds, checkpointSeconds: state.checkpointSeconds,
            trainingImages: state.trainingImages, output: outputDirectory.path)
        try writeReport(summary)
        try AtomicFile.write(try JSONEncoder.pretty.encode(summary), to: outputDirectory.appendingPathComponent(Self.summaryFile))
        return summary
    }

    /// Why the scheduler ended the run early, once it has; nil while the run goes on.
    private var stopReason: String? {
        guard case .mhlr(let mhlr) = state.schedule.scheduler, let stopStep = mhlr.stopStep else { return nil }
        let configuration = mhlr.configuration
        return String(format: "step %d (epoch %.2f of at most %d): stopping, MHLR has decayed the LR %d times "
                      + "(stop_after_decays %d) and the loss stayed on a plateau for %d more steps at LR %g",
                      stopStep, Double(stopStep) / Double(loader.batchesPerEpoch), config.numEpoch, mhlr.decays,
                      configuration.stopAfterDecays ?? 0, configuration.resolvedPatienceSteps, mhlr.learningRate)
    }

    /// Written last, when a run has finished: `summary.json`, the `TrainingSummary`.
    public static let summaryFile = "summary.json"

    /// The safetensors metadata that lets `--checkpoint` commands rebuild the network.
    var modelMetadata: [String: String] {
        ["format": "pt", "network": config.network, "embedding_size": "\(config.embeddingSize)",
         "image_size": "\(config.imageSize)", "producer": "haarface"]
    }

    /// arcface_torch's optimiser, or schedule-free SGD, over the backbone's and the head's parameters.
    static func makeOptimizer(_ config: TrainingConfig, backbone: any UnaryLayer, head: PartialFC) throws -> any Optimizer {
        let lr = Float(config.lr), momentum = Float(config.momentum), weightDecay = Float(config.weightDecay)
        let parameterSets = [backbone.trainableParameters, [head.weight]]
        switch config.optimizer {
        case "schedulefree":
            return try ScheduleFreeSGD(groups: parameterSets.map {
                .init(parameters: $0, learningRate: lr, beta: momentum, weightDecay: weightDecay)
            })
        default:
            return try SGD(groups: parameterSets.map {
                .init(parameters: $0, learningRate: lr, momentum: momentum, weightDecay: weightDecay)
            })
        }
    }

    /// Batches that re-measure the batch-norm statistics at the evaluation weights: the first of a fixed
    /// order of the training set (its own loader, so the training order is untouched and a resumed run
    /// measures the same).
    static let batchNormBatches = 8
    private var batchNormMeasuredAtStep: Int?

    /// Runs `body` at the weights to evaluate and save (schedule-free SGD's x, with batch-norm statistics
    /// re-measured there once per step; for SGD the trained weights as they are).
    private func atEvaluationWeights<T>(_ body: () throws -> T) throws -> T {
        try optimizer.withEvaluationWeights {
            if optimizer.evaluatesAtOtherWeights && batchNormMeasuredAtStep != state.globalStep {
                var options = loaderOptions
                options.seed = config.seed &+ 0xB17
                let batches = try Loader(source: data.source, options: options)
                try recomputeBatchNormStatistics(of: backbone, batchCount: min(Self.batchNormBatches, loader.batchesPerEpoch)) {
                    let batch = try batches.next()
                    let images = Tensor(shape: [batch.labels.count, 3, config.imageSize, config.imageSize], values: batch.images)
                    return config.fp16 ? try images.converted(to: .bfloat16) : images
                }
                batchNormMeasuredAtStep = state.globalStep
            }
            return try body()
        }
    }

    private func verify(step: Int) throws {
        try atEvaluationWeights { try verifyAtEvaluationWeights(step: step) }
    }

    private func verifyAtEvaluationWeights(step: Int) throws {
        let embedder = BackboneEmbedder(backbone: backbone, imageSize: config.imageSize)
        var accuracies: [(target: String, accuracy: Double)] = []
        for set in validation {
            let report = try Verification.evaluate(images: set.images, isSame: set.sameIdentity, embedder: embedder,
                                                   batchSize: embedder.batchSize)
            let highest = max(state.highestAccuracy[set.name] ?? 0, report.accuracyMean)
            state.highestAccuracy[set.name] = highest
            for line in InsightFaceLog.lines(set: set.name, step: step, report: report) { try log.write(line) }
            try log.write(InsightFaceLog.accuracyHighest(set: set.name, step: step, highest))
            var record = VerificationRecord(step: step, target: set.name, accuracy: report.accuracyMean,
                                            standardDeviation: report.accuracyStandardDeviation, xNorm: report.xNorm)
            record.trainingSeconds = state.trainingSeconds
            record.tarAtFAR = report.tarAtFAR
            state.verifications.append(record)
            accuracies.append((set.name, report.accuracyMean))
        }
        try tensorBoard?.verification(step, accuracies: accuracies)
    }

    private func saveCheckpoint() throws {
        state.headGenerator = head.generator
        state.metricsBytes = try metrics.flush()
        if let tensorBoard { state.tensorBoard = try tensorBoard.flush() }
        state.logBytes = log.size
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let (backboneFile, headFile) = try atEvaluationWeights {
            (backbone.stateTensors(metadata: modelMetadata).encoded(),
             SafeTensors(tensors: [head.weight.name: SafeTensor(float32: head.weight.values, shape: head.weight.shape)]).encoded())
        }
        try checkpoints.write([
            "backbone.safetensors": Data(backboneFile),
            "head.safetensors": Data(headFile),
            "optimizer.safetensors": Data(optimizer.stateTensors().encoded()),
            "trainer.json": try encoder.encode(state),
        ])
    }

    private func writeReport(_ summary: TrainingSummary) throws {
        let metricsLog = try? TrainingLog(contentsOf: outputDirectory.appendingPathComponent("metrics.csv"))
        var schedule = ScheduleFigure(
            title: "haarface train: \(config.network) at \(config.imageSize)x\(config.imageSize), \(summary.steps) steps",
            loss: metricsLog?.entries.map { (Double($0.step), $0.loss) } ?? [],
            initialLR: config.lr, scheduler: state.schedule.scheduler, trace: state.trace, events: state.schedule.events)
        schedule.initialLR = state.schedule.events.first?.oldLR ?? state.schedule.scheduler.learningRate
        var report = TrainingReport(
            title: "HaarFace training report",
            settings: [("network", config.network), ("image size", "\(config.imageSize)"), ("data", data.summary),
                       ("batch size", "\(config.batchSize)"), ("epochs", "\(config.numEpoch)"), ("base LR", "\(config.lr)"),
                       ("margin (m1, m2, m3), s", "\(config.marginList), \(config.scale)"),
                       ("sample rate", "\(config.sampleRate)"), ("scheduler", state.schedule.scheduler.kindName),
                       ("precision", config.fp16 ? "bfloat16 trunk, float32 weights and head" : "float32"),
                      ("optimizer", config.optimizer == "schedulefree"
                        ? "schedule-free SGD (beta \(config.momentum); evaluated and saved at its average x)" : "SGD, momentum \(config.momentum)")],
            figures: [("steps", "\(summary.steps)"),
                      ("training time", String(format: "%.1f s", summary.trainingSeconds)),
                      ("images/s (median step)", String(format: "%.1f", summary.imagesPerSecond)),
                      ("trainer overhead (outside forward/backward/SGD)", String(format: "%.1f%%", 100 * summary.overheadFraction)),
                      ("final loss", String(format: "%.4f", summary.finalLoss)),
                      ("final LR", "\(summary.finalLearningRate)"),
                      ("LR changes", "\(summary.learningRateChanges)"),
                      ("skipped non-finite steps", "\(summary.skippedNonFiniteSteps)"),
                      ("skipped bad images", "\(summary.skippedBadImages)")],
            schedule: schedule, verifications: state.verifications)
        if let reason = summary.stopReason { report.figures.insert(("ended early", reason), at: 0) }
        for (name, highest) in state.highestAccuracy.sorted(by: { $0.key < $1.key }) {
            report.figures.append(("\(name) best accuracy", String(format: "%.2f%%", 100 * highest)))
        }
        try report.write(to: outputDirectory)
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }
}

extension PartialFC {
    /// Loads the class centres saved by a checkpoint (key = the weight's name, shape checked).
    func loadWeight(contentsOf url: URL) throws {
        let file = try SafeTensors.read(contentsOf: url)
        guard let tensor = file[weight.name], tensor.shape == weight.shape else {
            throw TrainingError(description: "\(url.path): expected tensor '\(weight.name)' of shape \(weight.shape)")
        }
        weight.values = tensor.floats()
    }
}

extension Array where Element == Double {
    var median: Double {
        guard !isEmpty else { return 0 }
        let sorted = self.sorted()
        return count % 2 == 1 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2
    }
}

extension ArraySlice where Element == Double {
    var median: Double { Array(self).median }
}
