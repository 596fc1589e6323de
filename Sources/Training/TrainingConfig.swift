import Foundation
import MHLR
import NN

/// A training run's settings under arcface_torch's names (config/base.py and the data-set configs), plus
/// HaarFace's own: the scheduler, the input size, checkpoints. Read from YAML or JSON; flags override.
public struct TrainingConfig: Codable, Equatable, @unchecked Sendable {
    /// Backbone: one of `Network`'s names (r18, r34, r50, r100, r200 or mbf).
    public var network = "r50"
    public var embeddingSize = 512
    /// CombinedMargin (m1, m2, m3): ArcFace (1, 0.5, 0), CosFace (1, 0, 0.4).
    public var marginList: [Double] = [1.0, 0.5, 0.0]
    /// The logit scale s.
    public var scale: Double = 64
    /// Partial FC: the fraction of classes in each step's logits (1 = all).
    public var sampleRate: Double = 1.0
    public var interclassFilteringThreshold: Double = 0
    /// Images per step on each rank (arcface_torch's batch_size, per GPU).
    public var batchSize = 128
    /// When positive, the images of one step over all ranks: each of W ranks takes global_batch_size / W,
    /// and batch_size is not used. Keeps a run's steps the same on any number of ranks.
    public var globalBatchSize = 0
    public var lr: Double = 0.1
    public var momentum: Double = 0.9
    public var weightDecay: Double = 5e-4
    public var numEpoch = 20
    public var warmupEpoch = 0
    public var gradientAcc = 1
    public var seed: UInt64 = 2048
    /// Log a training line every `frequent` steps.
    public var frequent = 10
    /// Evaluate the val_targets every `verbose` steps.
    public var verbose = 2000
    public var output = "work_dirs/haarface"
    /// Training data: a folder holding train.rec/train.idx, or an image folder (one sub-folder per identity).
    /// Empty: the embedded synthetic default.
    public var rec = ""
    /// Verification sets: names looked up in the `rec` folder (lfw -> lfw.bin) or paths.
    public var valTargets: [String] = []
    public var numWorkers = 2
    /// Input images are resized to image_size x image_size (a multiple of 16).
    public var imageSize = 112
    /// The learning-rate scheduler; MHLR by default, with the window a fraction of the run.
    public var scheduler = SchedulerSpec(kind: .mhlr)
    /// Write a checkpoint every this many steps (0: only at the end).
    public var checkpointEvery = 0
    /// Use ArcFace's exact derivative of cos(theta + m) instead of arcface_torch's constant-shift gradient.
    public var exactMarginGradient = false
    /// Skip steps whose loss is not finite (counted) instead of stopping the run.
    public var skipNonfinite = false
    public var skipBadImages = false
    /// arcface_torch's mixed-precision knob: here the trunk computes in bfloat16 (this CPU's fast path),
    /// weights, statistics and the head stay float32.
    public var fp16 = false
    /// Batch norm over the global batch on several ranks (torch.nn.SyncBatchNorm) instead of each rank's own
    /// images (arcface_torch's DDP, the default).
    public var syncBatchNorm = false
    /// sgd (arcface_torch's) or schedulefree (Defazio et al. 2024: evaluated and saved at its average x, with
    /// batch-norm statistics re-measured there; `momentum` is its beta).
    public var optimizer = "sgd"
    /// Start from this checkpoint's backbone (safetensors or torch.save) instead of random weights: fine-tuning.
    public var initFrom = ""
    /// Write TensorBoard event files into `<output>/tensorboard` (arcface_torch's SummaryWriter does, always).
    public var tensorboard = true

    public init() {}

    /// Images per step on each of `worldSize` ranks.
    public func batchSize(worldSize: Int) throws -> Int {
        guard globalBatchSize > 0 else { return batchSize }
        guard globalBatchSize % worldSize == 0 else {
            throw ConfigError(file: "config", message: "global_batch_size \(globalBatchSize) cannot be split evenly among "
                              + "\(worldSize) ranks: run on a number of ranks that divides it")
        }
        return globalBatchSize / worldSize
    }

    /// The optimisers `optimizer` may name.
    public static let optimizers = ["sgd", "schedulefree"]

    /// Every setting, declared once: config key, flag, help, check and resume rule (see `Setting`).
    public static let settings: [Setting] = [
        .make("network", \.network, "Backbone: \(Network.nameList).") { value, _ in
            Network(rawValue: value) != nil ? nil : "expected \(Network.nameList), found '\(value)'"
        },
        .make("embedding_size", \.embeddingSize, "Embedding dimension.") { value, _ in value > 0 ? nil : "must be positive" },
        .make("margin_list", \.marginList, "CombinedMargin m1,m2,m3: 1,0.5,0 is ArcFace, 1,0,0.4 CosFace.") { value, _ in
            value.count == 3 ? nil : "expected three numbers (m1, m2, m3), found \(value.count)"
        },
        .make("scale", \.scale, "The logit scale s.") { value, _ in value > 0 ? nil : "must be positive" },
        .make("sample_rate", \.sampleRate, "Partial FC: the fraction of classes in each step's logits, in (0, 1].") { value, _ in
            value > 0 && value <= 1 ? nil : "must lie in (0, 1], found \(value)"
        },
        .make("interclass_filtering_threshold", \.interclassFilteringThreshold, "arcface_torch's inter-class filtering (0: off)."),
        .make("batch_size", \.batchSize, "Images per step on each rank (arcface_torch's, per GPU).") { value, _ in
            value > 0 ? nil : "must be positive"
        },
        .make("global_batch_size", \.globalBatchSize,
              "Images per step over all ranks (0: batch_size on each); each of W ranks takes global_batch_size / W.") { value, _ in
            value >= 0 ? nil : "must not be negative"
        },
        .make("lr", \.lr, "Base learning rate.") { value, _ in value > 0 && value.isFinite ? nil : "must be a positive number" },
        .make("momentum", \.momentum, "SGD momentum.") { value, _ in value >= 0 && value < 1 ? nil : "must lie in [0, 1)" },
        .make("weight_decay", \.weightDecay, "SGD weight decay.") { value, _ in value >= 0 ? nil : "must not be negative" },
        .make("num_epoch", \.numEpoch, "Epochs to train.") { value, _ in value > 0 ? nil : "must be positive" },
        .make("warmup_epoch", \.warmupEpoch, "Warm-up epochs (poly scheduler).") { value, config in
            value >= 0 && value < config.numEpoch ? nil : "must lie in [0, num_epoch)"
        },
        .make("gradient_acc", \.gradientAcc, "Steps whose gradients are summed before each update.") { value, _ in
            value > 0 ? nil : "must be positive"
        },
        .make("seed", \.seed, "Seed of the weights, the data order and Partial FC's sampling."),
        .make("frequent", \.frequent, "A training.log line every this many steps.", onResume: .mayChange) { value, _ in
            value > 0 ? nil : "must be positive"
        },
        .make("verbose", \.verbose, "Verify the val targets every this many steps.", onResume: .mayChange) { value, _ in
            value > 0 ? nil : "must be positive"
        },
        .make("output", \.output, "The output folder.", onResume: .mayChange) { value, _ in
            value.isEmpty ? "must name a folder" : nil
        },
        .make("rec", \.rec, "Training data: a folder with train.rec/train.idx, a .rec (or .idx) file, or an image folder."),
        .make("val_targets", \.valTargets, "Verification sets: names of <name>.bin beside the data, or paths.",
              onResume: .mayChange),
        .make("num_workers", \.numWorkers, "Threads decoding images.", onResume: .mayChange) { value, _ in
            value >= 1 ? nil : "must be at least 1 (images are always decoded on worker threads), found \(value)"
        },
        .make("image_size", \.imageSize, "Input size (a multiple of 16).") { value, _ in
            value >= 16 && value % 16 == 0 ? nil : "must be a positive multiple of 16, found \(value)"
        },
        .make("scheduler", \.scheduler, "The learning-rate scheduler and its parameters.", hasFlag: false) { value, _ in
            value.inapplicableParameters.first.map { name, kinds in
                "\(name) applies to \(kinds.map(\.rawValue).joined(separator: ", ")), not to \(value.kind.rawValue)"
            }
        },
        .make("checkpoint_every", \.checkpointEvery, "Write a checkpoint every this many steps (and always at the end).",
              onResume: .mayChange) { value, _ in value >= 0 ? nil : "must not be negative" },
        .make("exact_margin_gradient", \.exactMarginGradient,
              "Differentiate ArcFace's cos(theta + m) exactly (arcface_torch treats the margin as a constant shift)."),
        .make("skip_nonfinite", \.skipNonfinite, "Skip steps whose loss is not finite (counted) instead of stopping.",
              onResume: .mayChange),
        .make("skip_bad_images", \.skipBadImages, "Skip undecodable images (counted) instead of stopping.", onResume: .mayChange),
        .make("fp16", \.fp16, "Mixed precision (arcface_torch's knob): the trunk computes in bfloat16, weights stay float32."),
        .make("sync_batch_norm", \.syncBatchNorm,
              "On several ranks, batch norm's statistics over the global batch (torch.nn.SyncBatchNorm) rather than each "
              + "rank's images (arcface_torch's DDP)."),
        .make("optimizer", \.optimizer,
              "sgd, or schedulefree (schedule-free SGD: trains at y, evaluates and saves the average x; momentum is its beta).") { value, _ in
            optimizers.contains(value) ? nil : "expected sgd or schedulefree, found '\(value)'"
        },
        .make("init", \.initFrom,
              "Start from this checkpoint's backbone (model.safetensors or arcface_torch's model.pt / backbone.pth), not random weights."),
        .make("tensorboard", \.tensorboard,
              "TensorBoard event files in <output>/tensorboard, on unless --no-tensorboard (tensorboard: false) turns "
              + "them off: loss, learning_rate, images_per_second and mhlr/haar_response every step, each val target's "
              + "accuracy at each verification.",
              onResume: .mayChange),
    ]

    /// Reads a YAML (.yaml, .yml) or JSON (.json) config file. Unknown keys are errors: a misspelt knob
    /// must not silently fall back to its default.
    public static func load(_ url: URL) throws -> TrainingConfig {
        try TrainingConfig().applying(try fileValues(url), source: url.path)
    }

    /// The settings a YAML or JSON config file names, parsed but not yet applied (see `applying`).
    public static func fileValues(_ url: URL) throws -> [String: Any] {
        try ConfigError.mapping(in: url, of: "settings")
    }
}

/// A config file or setting that cannot be used: names the file (or "config") and what is wrong.
public struct ConfigError: Error, CustomStringConvertible {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }

    /// The top-level mapping of a YAML (.yaml, .yml) or JSON (.json) file: a config's settings, a study.
    /// `contents` names what it should hold, for the message when it does not.
    static func mapping(in url: URL, of contents: String) throws -> [String: Any] {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ConfigError(file: url.path, message: "cannot read the file")
        }
        let isJSON = url.pathExtension.lowercased() == "json"
        let object: Any?
        do {
            object = isJSON ? try JSONSerialization.jsonObject(with: Data(text.utf8)) : try YAMLValues.load(text)
        } catch {
            throw ConfigError(file: url.path, message: "not valid \(isJSON ? "JSON" : "YAML"): \(error)")
        }
        guard let values = object as? [String: Any] else {
            throw ConfigError(file: url.path, message: isJSON ? "expected a JSON object of \(contents)" : "expected a YAML mapping of \(contents)")
        }
        return values
    }
}
