import Engine
import FaceData
import FaceEval
import Collective
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
    /// Ranks the run was trained on (nil in summaries from before ranks: one).
    public var ranks: Int?
    /// Seconds this rank spent averaging the backbone's gradients with the others (nil on one process).
    public var gradientExchangeSeconds: Double?
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
        /// The ranks this run spans (Open MPI's, under mpirun); one process by default.
        public var communicator: any Communicator = SingleProcess()
        /// Fault injection for tests of the non-finite-loss path: this step's batch gets a NaN pixel.
        var injectedNonFiniteStep = FaultInjection.nonFiniteStep
        public init() {}
    }

    public let config: TrainingConfig
    public let outputDirectory: URL
    private let options: Options
    private let communicator: any Communicator
    private let data: TrainingData
    private let backbone: any UnaryLayer
    private let head: PartialFC
    private let optimizer: any Optimizer
    private var update: GradientAccumulation
    private let loader: Loader
    private let loaderOptions: LoaderOptions
    /// training.log, metrics.csv, the event file and the progress line: rank 0's alone (nil on the others).
    private let log: ArcfaceLog?
    private let metrics: MetricsFile?
    private let tensorBoard: TensorBoardLog?
    private let checkpoints: CheckpointStore
    private let totalSteps: Int
    /// Verification runs on rank 0 (empty on the others, as arcface_torch's callback).
    private let validation: [(name: String, images: [RGBImage], sameIdentity: [Bool])]
    private let progress: ProgressLine?

    private var state: TrainerState

    /// Sets up a run: resolves the data (generating the synthetic default if needed), builds the model, head,
    /// optimiser and scheduler, and, with `options.resume`, restores the newest checkpoint in the output folder.
    ///
    /// Across ranks every rank does this, in phases that end with the ranks agreeing: a failure on any rank
    /// (a file it cannot read) fails every rank with that rank's message (`AgreedFailure`), and the settings
    /// must be the same on every rank. Rank 0 alone writes into the output folder.
    public init(config requested: TrainingConfig, synthetic: SynthConfig, options: Options = Options()) throws {
        let communicator = options.communicator
        let isRoot = communicator.isRoot
        let outputDirectory = URL(fileURLWithPath: requested.output)
        let checkpoints = CheckpointStore(directory: outputDirectory)
        let (config, restored) = try communicator.agreeing { () throws -> (TrainingConfig, (state: TrainerState, folder: URL)?) in
            if isRoot { try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true) }
            var config = requested
            var restored: (state: TrainerState, folder: URL)?
            if options.resume {
                let (saved, folder) = try Self.savedState(in: outputDirectory)
                config = try TrainingConfig.resumed(saved: saved.config, requested: config,
                                                    checkpoint: folder.appendingPathComponent("trainer.json").path)
                restored = (saved, folder)
                restored!.state.config = config
            }
            try config.validate()
            _ = try config.batchSize(worldSize: communicator.worldSize)
            return (config, restored)
        }
        try Self.requireSameSettings(config, communicator)
        self.outputDirectory = outputDirectory
        self.checkpoints = checkpoints
        self.communicator = communicator
        self.config = config
        self.options = options

        // Rank 0 first: it may generate the synthetic default, which the others then read.
        var notes: [String] = []
        let resolve = { (notes: inout [String]) in
            try TrainingData.resolve(config, synthetic: synthetic, outputDirectory: outputDirectory) { notes.append($0) }
        }
        let rootData = try communicator.agreeing { isRoot ? try resolve(&notes) : nil }
        let parts = try communicator.agreeing {
            try Self.build(config, data: rootData ?? (try resolve(&notes)), restored: restored?.state, options: options)
        }
        data = parts.data
        backbone = parts.backbone
        head = parts.head
        optimizer = parts.optimizer
        loader = parts.loader
        loaderOptions = parts.loaderOptions
        totalSteps = parts.totalSteps
        validation = parts.validation
        update = GradientAccumulation(backboneParameters: backbone.trainableParameters, optimizer: optimizer,
                                      stepsPerUpdate: config.gradientAcc, communicator: communicator)

        let initialState = TrainerState(
            config: config, globalStep: 0, loader: LoaderState(), schedule: ScheduleRecorder(parts.scheduler),
            trace: ScheduleTrace(totalSteps: totalSteps), headGenerator: head.generator, verifications: [],
            highestAccuracy: [:], skippedNonFiniteSteps: 0, skippedBadImages: 0, logBytes: 0, metricsBytes: 0,
            trainingSeconds: 0, verificationSeconds: 0, checkpointSeconds: 0, trainingImages: 0)
        let backbone = backbone, head = head, optimizer = optimizer
        state = try communicator.agreeing {
            guard let (saved, folder) = restored else {
                if !config.initFrom.isEmpty {
                    try ModelCheckpoint.initialize(backbone, from: URL(fileURLWithPath: config.initFrom), network: config.network,
                                                   embeddingSize: config.embeddingSize, imageSize: config.imageSize)
                    notes.append("backbone initialised from \(config.initFrom)")
                }
                return initialState
            }
            try backbone.loadState(contentsOf: folder.appendingPathComponent("backbone.safetensors"))
            try head.loadShard(contentsOf: folder.appendingPathComponent("head.safetensors"))
            // After the weights: schedule-free SGD sets them to its training point from its state.
            let optimizerURL = folder.appendingPathComponent("optimizer.safetensors")
            try optimizer.loadState(head.shardingState(try SafeTensors.read(contentsOf: optimizerURL), of: optimizer),
                                    source: optimizerURL.path)
            var state = saved
            state.continue(worldSize: communicator.worldSize, rank: communicator.rank, head: head,
                           loaderPosition: parts.loader.state)
            return state
        }

        var tensorBoardNotes: [String] = []
        let state = state
        let opened = try communicator.agreeing { () throws -> (ArcfaceLog, MetricsFile, TensorBoardLog?)? in
            guard isRoot else { return nil }
            let log = try ArcfaceLog(url: outputDirectory.appendingPathComponent("training.log"), frequent: config.frequent,
                                     batchSize: parts.loaderOptions.batchSize * communicator.worldSize, totalSteps: parts.totalSteps,
                                     startStep: state.globalStep, truncatingTo: restored == nil ? nil : state.logBytes,
                                     echo: options.echoLog)
            let metrics = try MetricsFile(url: outputDirectory.appendingPathComponent("metrics.csv"),
                                          truncatingTo: restored == nil ? nil : state.metricsBytes)
            let tensorBoard = config.tensorboard
                ? try TensorBoardLog(outputDirectory: outputDirectory, continuing: restored == nil ? nil : state.tensorBoard) {
                    tensorBoardNotes.append($0)
                }
                : nil
            return (log, metrics, tensorBoard)
        }
        log = opened?.0
        metrics = opened?.1
        tensorBoard = opened?.2
        progress = isRoot && options.showProgress && isatty(2) == 1 ? ProgressLine() : nil

        if let restored {
            try log?.write("resumed from \(restored.folder.path) at step \(state.globalStep)"
                           + (restored.state.worldSize != communicator.worldSize
                              ? " (trained on \(restored.state.worldSize) ranks, continuing on \(communicator.worldSize))" : ""))
            if let note = Self.resumeNote(restored.folder) { try log?.write(note) }
            for note in tensorBoardNotes { try log?.write(note) }
        } else {
            for note in notes { try log?.write(note) }
            let ranks = communicator.worldSize > 1
                ? "; \(communicator.worldSize) ranks x \(loaderOptions.batchSize) images per step" : ""
            try log?.write("data: \(data.summary); \(loader.batchesPerEpoch) steps per epoch, \(totalSteps) steps in all\(ranks)")
            try log?.write(String(format: "network %@ (%.2fM parameters) at %dx%d, embedding %d, margin %@, sample_rate %g, scheduler %@",
                              config.network, Double(backbone.parameterCount) / 1e6, config.imageSize, config.imageSize,
                              config.embeddingSize, "\(config.marginList)", config.sampleRate, parts.scheduler.kindName))
        }
    }

    /// What `init` builds on each rank from the settings and the data (no collective calls).
    private struct Parts {
        var data: TrainingData
        var backbone: any UnaryLayer
        var head: PartialFC
        var optimizer: any Optimizer
        var loader: Loader
        var loaderOptions: LoaderOptions
        var scheduler: AnyScheduler
        var totalSteps: Int
        var validation: [(name: String, images: [RGBImage], sameIdentity: [Bool])]
    }

    private static func build(_ config: TrainingConfig, data: TrainingData, restored: TrainerState?,
                              options: Options) throws -> Parts {
        let communicator = options.communicator
        let codec = JPEGCodec()
        typealias Pairs = (name: String, images: [RGBImage], sameIdentity: [Bool])
        let validation: [Pairs] = !communicator.isRoot ? [] : try data.validation.map { set -> Pairs in
            let images = try set.images.isEmpty ? set.decodedImages : set.images.enumerated().map { index, bytes in
                try codec.decode(bytes, source: "\(set.name) image \(index)")
            }
            return (set.name, images, set.sameIdentity)
        }
        let backbone = try Backbone.make(network: config.network, embeddingSize: config.embeddingSize,
                                         imageSize: config.imageSize, seed: config.seed)
        if config.syncBatchNorm && communicator.worldSize > 1 {
            // torch.nn.SyncBatchNorm: each batch norm's statistics over the global batch, not this rank's part.
            for layer in backbone.allModules.compactMap({ $0 as? BatchNorm }) {
                layer.crossRankSum = { [communicator] in try communicator.allReduce($0, .sum) }
            }
        }
        let margin = try CombinedMargin(scale: Float(config.scale), m1: Float(config.marginList[0]), m2: Float(config.marginList[1]),
                                        m3: Float(config.marginList[2]),
                                        interclassFilteringThreshold: Float(config.interclassFilteringThreshold),
                                        derivative: config.exactMarginGradient ? .exact : .constantShift)
        let classCount = data.source.classCount
        guard classCount >= communicator.worldSize else {
            throw TrainingError(description: "\(data.summary): \(classCount) classes cannot be shared among \(communicator.worldSize) ranks")
        }
        let head = try PartialFC(margin: margin, embeddingSize: config.embeddingSize, classCount: classCount,
                                 sampleRate: config.sampleRate, seed: config.seed &+ 1,
                                 shard: .of(classCount: classCount, rank: communicator.rank, worldSize: communicator.worldSize))
        let optimizer = try makeOptimizer(config, backbone: backbone, head: head)

        var loaderOptions = LoaderOptions(batchSize: try config.batchSize(worldSize: communicator.worldSize),
                                          imageWidth: config.imageSize, imageHeight: config.imageSize, seed: config.seed,
                                          workerCount: config.numWorkers, skipBadImages: config.skipBadImages)
        loaderOptions.rank = communicator.rank
        loaderOptions.worldSize = communicator.worldSize
        let batchesPerEpoch = Loader.batchesPerEpoch(imageCount: data.source.count, batchSize: loaderOptions.batchSize,
                                                     worldSize: communicator.worldSize)
        guard batchesPerEpoch > 0 else {
            let ranks = communicator.worldSize > 1 ? " on each of \(communicator.worldSize) ranks" : ""
            throw TrainingError(description: "\(data.summary): fewer images than one batch of \(loaderOptions.batchSize)\(ranks)")
        }
        let position = try restored.map { try $0.loaderPosition(batchSize: loaderOptions.batchSize, worldSize: communicator.worldSize,
                                                                 batchesPerEpoch: batchesPerEpoch) } ?? LoaderState()
        let loader = try Loader(source: data.source, options: loaderOptions, resumeFrom: position)
        // A run resumed on another number of ranks trains the rest of its epochs in batches of the new size.
        let totalSteps = restored.map { saved in
            saved.worldSize == communicator.worldSize && saved.globalBatchSize == loaderOptions.batchSize * communicator.worldSize
                ? batchesPerEpoch * config.numEpoch
                : saved.globalStep + (config.numEpoch - position.epoch) * batchesPerEpoch - position.batchInEpoch
        } ?? batchesPerEpoch * config.numEpoch

        var spec = config.scheduler
        if spec.kind == .poly && spec.warmupSteps == nil { spec.warmupSteps = config.warmupEpoch * batchesPerEpoch }
        let scheduler: AnyScheduler
        do {
            scheduler = try spec.resolvingEpochs(stepsPerEpoch: batchesPerEpoch)
                .makeScheduler(defaultTotalSteps: totalSteps, defaultBaseLR: config.lr)
        } catch {
            throw ConfigError(file: "config", message: "scheduler: \(error)")
        }
        return Parts(data: data, backbone: backbone, head: head, optimizer: optimizer, loader: loader,
                     loaderOptions: loaderOptions, scheduler: scheduler, totalSteps: totalSteps, validation: validation)
    }

    /// Throws on every rank unless every rank was given the same settings (rank 0's), naming the first that
    /// differ on each rank.
    static func requireSameSettings(_ config: TrainingConfig, _ communicator: any Communicator) throws {
        guard communicator.worldSize > 1 else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let all = try communicator.allGatherBytes(Array(try encoder.encode(config)))
        let decoded = try all.map { try JSONDecoder().decode(TrainingConfig.self, from: Data($0)) }
        var problems: [String] = []
        for (rank, other) in decoded.enumerated().dropFirst() {
            // The output folder is only written by rank 0; the rest must agree.
            if let setting = TrainingConfig.settings.first(where: { $0.key != "output" && !$0.sameValue(decoded[0], other) }) {
                problems.append("rank \(rank) has \(setting.key) \(setting.valueDescription(other)), "
                                + "rank 0 has \(setting.valueDescription(decoded[0]))")
            }
        }
        guard problems.isEmpty else {
            throw AgreedFailure("the ranks were started with different settings: " + problems.joined(separator: "; ")
                                + " (every rank must get the same config file and flags)")
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
            // Forward: this rank's images through the backbone.
            var images = Tensor(shape: [batch.labels.count, 3, config.imageSize, config.imageSize],
                                values: FaultInjection.pixels(batch.images, step: step, nonFiniteStep: options.injectedNonFiniteStep))
            if config.fp16 { images = try images.converted(to: .bfloat16) }
            let statistics = config.skipNonfinite ? RunningStatistics(of: backbone) : nil
            let embeddings = try backbone(images)
            // Loss: the global batch's, the same on every rank (embeddings and labels all-gathered, each rank's
            // head computing its classes' logits, the cross entropy reduced across the ranks).
            let loss = try head.loss(embeddings, labels: batch.labels.map(Int.init), communicator: communicator)
            let lossValue = Double(try loss.item())
            let shownLoss = lossValue.isNaN ? "nan" : "\(lossValue)"   // not "-nan": a NaN's sign means nothing
            if lossValue.isFinite {
                // Backward: into this shard's centres, and (reduce-scattered) into this rank's embeddings; on
                // an update step the backbone's gradients start their average over the ranks bucket by bucket.
                try update.propagate(loss, step: step)
                if update.isUpdateStep(step) {
                    try update.exchangeGradients()   // the rest of the average, waited for
                    update.clip()
                    update.apply()
                }
            } else if config.skipNonfinite {
                state.skippedNonFiniteSteps += 1
                statistics?.restore()
                try log?.write("step \(step): the loss is \(shownLoss); step skipped (\(state.skippedNonFiniteSteps) so far)")
            } else {
                try log?.write("step \(step): the loss is \(shownLoss); stopping")
                progress?.finish()
                let last = checkpoints.latest().map { "the last good checkpoint is \($0.path); continue with --resume" }
                    ?? "no checkpoint was written yet"
                let message = "step \(step) (epoch \(batch.epoch)): the loss is \(shownLoss), not a number; "
                    + "stopped before updating the weights, \(last), or pass --skip-nonfinite to skip such steps"
                // The loss is the global batch's, the same on every rank: each rank stops here.
                if communicator.worldSize > 1 { throw AgreedFailure(message) }
                throw TrainingError(description: message)
            }
            engineSeconds += Self.now() - engineStart

            state.globalStep = step
            state.loader = loader.state
            state.skippedBadImages += batch.skipped.count
            if step > 1 && (step - 1) % loader.batchesPerEpoch == 0 { state.schedule.noteEpochBoundary() }
            let nextLR = state.schedule.step(loss: lossValue)
            let isLast = step == totalSteps || state.schedule.scheduler.stopRequested
            state.trace.record(step: step, scheduler: state.schedule.scheduler, force: isLast)
            try log?.step(step, loss: lossValue, learningRate: nextLR, epoch: batch.epoch)
            let seconds = Self.now() - stepStart
            stepSeconds += seconds
            state.trainingSeconds += seconds
            let stepImages = batch.labels.count * communicator.worldSize
            state.trainingImages += stepImages
            let speed = MetricsFile.recorded(imagesPerSecond: Double(stepImages) / seconds)
            imagesPerSecond.append(Double(stepImages) / seconds)
            try metrics?.append(step: step, epoch: batch.epoch, loss: lossValue, learningRate: learningRate,
                               imagesPerSecond: speed)
            try tensorBoard?.step(step, loss: lossValue, learningRate: learningRate, imagesPerSecond: speed,
                                  haarResponse: state.schedule.scheduler.haarResponse)
            if lossValue.isFinite { lastLoss = lossValue }
            progress?.update(step: step, total: totalSteps, epoch: batch.epoch, epochs: config.numEpoch, loss: lossValue,
                             learningRate: nextLR, imagesPerSecond: imagesPerSecond.suffix(20).median)

            if state.schedule.scheduler.stopRequested, let reason = stopReason { try log?.write(reason) }
            if communicator.isRoot && (step % config.verbose == 0 || isLast) {
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
        if let metrics, !lastLoss.isFinite {   // no step ran here (a resumed run that had already ended): the log has the last
            _ = try metrics.flush()
            let rows = try MetricsRow.read(outputDirectory.appendingPathComponent("metrics.csv"))
            lastLoss = rows.last { $0.loss.isFinite }?.loss ?? 0
        }
        if communicator.isRoot {
            try atEvaluationWeights {
                try backbone.saveState(to: outputDirectory.appendingPathComponent("model.safetensors"), metadata: modelMetadata)
            }
        }

        let summary = TrainingSummary(
            steps: state.globalStep, epochs: Double(state.globalStep) / Double(loader.batchesPerEpoch), stopReason: stopReason,
            imagesPerSecond: imagesPerSecond.median,
            overheadFraction: stepSeconds > 0 ? max(0, 1 - engineSeconds / stepSeconds) : 0, finalLoss: lastLoss,
            finalLearningRate: state.schedule.scheduler.learningRate, learningRateChanges: state.schedule.events.count,
            skippedNonFiniteSteps: state.skippedNonFiniteSteps, skippedBadImages: state.skippedBadImages,
            verifications: state.verifications, trainingSeconds: state.trainingSeconds,
            verificationSeconds: state.verificationSeconds, checkpointSeconds: state.checkpointSeconds,
            trainingImages: state.trainingImages, output: outputDirectory.path,
            ranks: communicator.worldSize, gradientExchangeSeconds: communicator.worldSize > 1 ? update.exchangeSeconds : nil)
        guard communicator.isRoot else { return summary }
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
            for line in InsightFaceLog.lines(set: set.name, step: step, report: report) { try log?.write(line) }
            try log?.write(InsightFaceLog.accuracyHighest(set: set.name, step: step, highest))
            var record = VerificationRecord(step: step, target: set.name, accuracy: report.accuracyMean,
                                            standardDeviation: report.accuracyStandardDeviation, xNorm: report.xNorm)
            record.trainingSeconds = state.trainingSeconds
            record.tarAtFAR = report.tarAtFAR
            state.verifications.append(record)
            accuracies.append((set.name, report.accuracyMean))
        }
        try tensorBoard?.verification(step, accuracies: accuracies)
    }

    /// Writes a checkpoint of the whole model (collective: every rank calls it): the backbone once (rank 0's;
    /// the ranks' backbones differ only in their batch-norm statistics), the head's shards and their optimiser
    /// state gathered into class order, every rank's class-sampling stream; rank 0 writes the files.
    private func saveCheckpoint() throws {
        let generators = try communicator.allGatherBytes(Array(try JSONEncoder().encode(head.generator)))
            .map { try JSONDecoder().decode(HeadRandom.self, from: Data($0)) }
        // At WebFace12M's size the head and its momentum are 1.2 GB each: each is gathered and turned into its
        // file's tensor at once (the gathered floats freed), and the files are written from those tensors.
        let headShape = [head.classCount, head.embeddingSize]
        let (backboneFile, headTensor) = try atEvaluationWeights {
            (communicator.isRoot ? backbone.stateTensors(metadata: modelMetadata) : SafeTensors(),
             try communicator.gather(head.weight.values, root: 0).map { SafeTensor(float32: $0, shape: headShape) })
        }
        var optimizerState = optimizer.stateTensors()
        for key in optimizer.stateKeys(of: head.weight) {
            // Present on every rank or on none (SGD's momentum appears at the first update).
            guard let shard = optimizerState.tensors.removeValue(forKey: key) else { continue }
            optimizerState[key] = try communicator.gather(shard.floats(), root: 0).map { SafeTensor(float32: $0, shape: headShape) }
        }
        guard communicator.isRoot, let headTensor else { return }
        state.headGenerator = head.generator
        state.headGenerators = generators
        state.ranks = communicator.worldSize
        state.imagesPerStep = loaderOptions.batchSize * communicator.worldSize
        state.metricsBytes = try metrics?.flush() ?? 0
        if let tensorBoard { state.tensorBoard = try tensorBoard.flush() }
        state.logBytes = log?.size ?? 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try checkpoints.write([
            "backbone.safetensors": FileContents(safeTensors: backboneFile),
            "head.safetensors": FileContents(safeTensors: SafeTensors(tensors: [head.weight.name: headTensor])),
            "optimizer.safetensors": FileContents(safeTensors: optimizerState),
            "trainer.json": FileContents(try encoder.encode(state)),
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
    /// Loads this shard's rows of the class centres a checkpoint saved (the whole head, in class order;
    /// key = the weight's name, shape checked).
    func loadShard(contentsOf url: URL) throws {
        let file = try SafeTensors.read(contentsOf: url)
        guard let tensor = file[weight.name], tensor.shape == [classCount, embeddingSize] else {
            throw TrainingError(description: "\(url.path): expected tensor '\(weight.name)' of shape \([classCount, embeddingSize])")
        }
        weight.values = shardRows(of: tensor.floats())
    }

    /// `optimizer`'s saved state with the whole head's tensors cut to this shard's rows.
    func shardingState(_ file: SafeTensors, of optimizer: any Optimizer) -> SafeTensors {
        var file = file
        for key in optimizer.stateKeys(of: weight) {
            guard let tensor = file[key], tensor.shape == [classCount, embeddingSize], shard.count != classCount else { continue }
            file[key] = SafeTensor(float32: shardRows(of: tensor.floats()), shape: weight.shape)
        }
        return file
    }

    private func shardRows(of values: [Float]) -> [Float] {
        shard.count == classCount ? values
            : Array(values[(shard.offset * embeddingSize)..<(shard.classes.upperBound * embeddingSize)])
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
