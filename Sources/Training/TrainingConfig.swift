import Foundation
import MHLR
import Yams

/// A training run's settings under arcface_torch's names (config/base.py and the data-set configs), plus
/// HaarFace's own: the scheduler, the input size, checkpoints. Read from YAML or JSON; flags override.
public struct TrainingConfig: Codable, Equatable, Sendable {
    /// Backbone: r18, r34, r50, r100, r200 or mbf.
    public var network = "r50"
    public var embeddingSize = 512
    /// CombinedMargin (m1, m2, m3): ArcFace (1, 0.5, 0), CosFace (1, 0, 0.4).
    public var marginList: [Double] = [1.0, 0.5, 0.0]
    /// The logit scale s.
    public var scale: Double = 64
    /// Partial FC: the fraction of classes in each step's logits (1 = all).
    public var sampleRate: Double = 1.0
    public var interclassFilteringThreshold: Double = 0
    public var batchSize = 128
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

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case network, embeddingSize = "embedding_size", marginList = "margin_list", scale
        case sampleRate = "sample_rate", interclassFilteringThreshold = "interclass_filtering_threshold"
        case batchSize = "batch_size", lr, momentum, weightDecay = "weight_decay", numEpoch = "num_epoch"
        case warmupEpoch = "warmup_epoch", gradientAcc = "gradient_acc", seed, frequent, verbose, output, rec
        case valTargets = "val_targets", numWorkers = "num_workers", imageSize = "image_size", scheduler
        case checkpointEvery = "checkpoint_every", exactMarginGradient = "exact_margin_gradient"
        case skipNonfinite = "skip_nonfinite", skipBadImages = "skip_bad_images", fp16
    }

    /// Every key may be left out: the defaults above fill in.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try container.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        let defaults = TrainingConfig()
        network = try value(.network, defaults.network)
        embeddingSize = try value(.embeddingSize, defaults.embeddingSize)
        marginList = try value(.marginList, defaults.marginList)
        scale = try value(.scale, defaults.scale)
        sampleRate = try value(.sampleRate, defaults.sampleRate)
        interclassFilteringThreshold = try value(.interclassFilteringThreshold, defaults.interclassFilteringThreshold)
        batchSize = try value(.batchSize, defaults.batchSize)
        lr = try value(.lr, defaults.lr)
        momentum = try value(.momentum, defaults.momentum)
        weightDecay = try value(.weightDecay, defaults.weightDecay)
        numEpoch = try value(.numEpoch, defaults.numEpoch)
        warmupEpoch = try value(.warmupEpoch, defaults.warmupEpoch)
        gradientAcc = try value(.gradientAcc, defaults.gradientAcc)
        seed = try value(.seed, defaults.seed)
        frequent = try value(.frequent, defaults.frequent)
        verbose = try value(.verbose, defaults.verbose)
        output = try value(.output, defaults.output)
        rec = try value(.rec, defaults.rec)
        valTargets = try value(.valTargets, defaults.valTargets)
        numWorkers = try value(.numWorkers, defaults.numWorkers)
        imageSize = try value(.imageSize, defaults.imageSize)
        scheduler = try value(.scheduler, defaults.scheduler)
        checkpointEvery = try value(.checkpointEvery, defaults.checkpointEvery)
        exactMarginGradient = try value(.exactMarginGradient, defaults.exactMarginGradient)
        skipNonfinite = try value(.skipNonfinite, defaults.skipNonfinite)
        skipBadImages = try value(.skipBadImages, defaults.skipBadImages)
        fp16 = try value(.fp16, defaults.fp16)
    }

    /// Reads a YAML (.yaml, .yml) or JSON (.json) config file. Unknown keys are errors: a misspelt knob
    /// must not silently fall back to its default.
    public static func load(_ url: URL) throws -> TrainingConfig {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ConfigError(file: url.path, message: "cannot read the file")
        }
        let isJSON = url.pathExtension.lowercased() == "json"
        let keys: [String]
        do {
            if isJSON {
                guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                    throw ConfigError(file: url.path, message: "expected a JSON object of settings")
                }
                keys = Array(object.keys)
            } else {
                guard let object = try Yams.load(yaml: text) as? [String: Any] else {
                    throw ConfigError(file: url.path, message: "expected a YAML mapping of settings")
                }
                keys = Array(object.keys)
            }
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(file: url.path, message: "not valid \(isJSON ? "JSON" : "YAML"): \(error)")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigError(file: url.path, message: "unknown setting '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        do {
            return isJSON ? try JSONDecoder().decode(TrainingConfig.self, from: Data(text.utf8))
                : try YAMLDecoder().decode(TrainingConfig.self, from: text)
        } catch let DecodingError.typeMismatch(type, context), let DecodingError.valueNotFound(type, context) {
            throw ConfigError(file: url.path, message: "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' "
                + "should be \(type): \(context.debugDescription)")
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigError(file: url.path, message: "'\(context.codingPath.map(\.stringValue).joined(separator: "."))': "
                + context.debugDescription)
        } catch {
            throw ConfigError(file: url.path, message: "\(error)")
        }
    }

    /// Checks the settings against each other; the message names the setting.
    public func validate() throws {
        func check(_ condition: Bool, _ key: CodingKeys, _ message: String) throws {
            if !condition { throw ConfigError(file: "config", message: "\(key.rawValue): \(message)") }
        }
        try check(["r18", "r34", "r50", "r100", "r200", "mbf"].contains(network), .network,
                  "expected r18, r34, r50, r100, r200 or mbf, found '\(network)'")
        try check(embeddingSize > 0, .embeddingSize, "must be positive")
        try check(marginList.count == 3, .marginList, "expected three numbers (m1, m2, m3), found \(marginList.count)")
        try check(scale > 0, .scale, "must be positive")
        try check(sampleRate > 0 && sampleRate <= 1, .sampleRate, "must lie in (0, 1], found \(sampleRate)")
        try check(batchSize > 0, .batchSize, "must be positive")
        try check(lr > 0 && lr.isFinite, .lr, "must be a positive number")
        try check(momentum >= 0 && momentum < 1, .momentum, "must lie in [0, 1)")
        try check(weightDecay >= 0, .weightDecay, "must not be negative")
        try check(numEpoch > 0, .numEpoch, "must be positive")
        try check(warmupEpoch >= 0 && warmupEpoch < numEpoch, .warmupEpoch, "must lie in [0, num_epoch)")
        try check(gradientAcc > 0, .gradientAcc, "must be positive")
        try check(frequent > 0, .frequent, "must be positive")
        try check(verbose > 0, .verbose, "must be positive")
        try check(imageSize >= 16 && imageSize % 16 == 0, .imageSize, "must be a positive multiple of 16, found \(imageSize)")
        try check(checkpointEvery >= 0, .checkpointEvery, "must not be negative")
    }
}

/// A config file or setting that cannot be used: names the file (or "config") and what is wrong.
public struct ConfigError: Error, CustomStringConvertible {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }
}
