import ArgumentParser
import Foundation
import MHLR

/// The scheduler flags shared by `replay`, `schedule` and (later) `train`.
struct SchedulerOptions: ParsableArguments {
    @Option(help: "The learning-rate scheduler (default mhlr; train: the config's).")
    var scheduler: SchedulerKind?

    /// The scheduler asked for, MHLR when none is named.
    var kind: SchedulerKind { scheduler ?? .mhlr }

    @Option(name: .customLong("base-lr"), help: "The initial learning rate (replay: default the log's first logged LR, else 0.1).")
    var baseLR: Double?

    @Option(help: "Total training steps (replay: default the log's last step). Needed by fastface, poly, cosine and --window-fraction.")
    var totalSteps: Int?

    // MHLR
    @Option(help: "mhlr: window m in steps (default: floor(0.015 x total steps) when the total is known, else 4000).")
    var window: Int?
    @Option(help: "mhlr: window as a fraction of the total steps.")
    var windowFraction: Double?
    @Option(help: "mhlr (train): window in epochs.")
    var windowEpochs: Double?
    @Option(help: "mhlr, fastface, plateau: detection threshold (defaults 0.06, 5e-5, 1e-4).")
    var threshold: Double?
    @Option(help: "mhlr: plateau patience in steps (default 2 x window); plateau: epochs/steps without improvement (default 10).")
    var patience: Int?
    @Option(help: "mhlr (train): patience in epochs.")
    var patienceEpochs: Double?
    @Option(help: "mhlr: after this many decays, the next plateau ends the run (train: num_epoch becomes a ceiling).")
    var stopAfterDecays: Int?
    @Option(help: "mhlr: after each epoch boundary (train: the trainer's; replay: the log's epoch field), this many steps neither count towards a plateau nor reset it (default off).")
    var boundaryHold: Int?
    @Option(help: "mhlr, fastface: decay factor (the LR is divided by it; default 2).")
    var decay: Double?
    @Option(help: "mhlr: restart (LR x decay^2) after this many consecutive decays, or 'none' (default 3).")
    var restartAfter: RestartAfter?
    @Option(help: "mhlr: smoothing of the loss before the Haar kernel: box|ema (default box).")
    var smoothing: Smoothing?
    @Option(help: "mhlr --smoothing ema: the EMA weight of each new loss (default 0.001).")
    var emaAlpha: Double?

    // FastFace
    @Option(help: "fastface: alpha and beta of the double EMA (default 0.001 each).")
    var alpha: Double?
    @Option(help: "fastface: beta (default 0.001).")
    var beta: Double?
    @Option(help: "fastface: tolerance tau as a fraction of the total steps (default 0.05).")
    var tolerance: Double?
    @Option(help: "fastface: halvings after which the LR stays put (default 8).")
    var maxHalvings: Int?
    @Option(help: "fastface: start-up of the recursion: corrected|released (default corrected).")
    var startup: FastFace.Startup?

    // Baselines
    @Option(help: "poly, cosine, wsd, constant: linear warm-up steps (default 0).")
    var warmupSteps: Int?
    @Option(help: "poly: power (default 1).")
    var power: Double?
    @Option(help: "multistep: comma-separated steps at which the LR is multiplied by --gamma.")
    var milestones: String?
    @Option(help: "multistep: multiplier at each milestone (default 0.1).")
    var gamma: Double?
    @Option(help: "plateau: multiplier on a plateau (default 0.1).")
    var factor: Double?
    @Option(help: "mhlr: abs compares the Haar response with --threshold in loss units, rel with --threshold x the smoothed loss (default abs); plateau: rel|abs (default rel).")
    var thresholdMode: ReduceLROnPlateau.ThresholdMode?
    @Option(help: "plateau: steps to wait after a decay (default 0).")
    var cooldown: Int?
    @Option(help: "plateau: smallest change of the LR that is applied (default 1e-8).")
    var eps: Double?
    @Option(name: .customLong("min-lr"), help: "mhlr: LR floor (default none); cosine: eta_min; plateau: min_lr; wsd: the LR the cool-down ends at (default 0).")
    var minLR: Double?

    // WSD
    @Option(help: "wsd: the share of the run the cool-down takes, in (0, 1] (default 0.2).")
    var cooldownFraction: Double?
    @Option(help: "wsd: the cool-down's shape: linear|1-sqrt (default linear).")
    var cooldownShape: WarmupStableDecay.CooldownShape?

    /// The flags as a scheduler description.
    var spec: SchedulerSpec {
        var spec = SchedulerSpec(kind: kind)
        spec.baseLR = baseLR
        spec.totalSteps = totalSteps
        spec.window = window
        spec.windowFraction = windowFraction
        spec.windowEpochs = windowEpochs
        spec.patienceEpochs = patienceEpochs
        spec.stopAfterDecays = stopAfterDecays
        spec.boundaryHold = boundaryHold
        spec.threshold = threshold
        spec.patience = patience
        spec.decay = decay
        spec.restartAfter = restartAfter
        spec.smoothing = smoothing
        spec.emaAlpha = emaAlpha
        spec.alpha = alpha
        spec.beta = beta
        spec.tolerance = tolerance
        spec.maxHalvings = maxHalvings
        spec.startup = startup
        spec.warmupSteps = warmupSteps
        spec.power = power
        spec.milestones = milestoneSteps
        spec.gamma = gamma
        spec.factor = factor
        spec.thresholdMode = thresholdMode
        spec.cooldown = cooldown
        spec.eps = eps
        spec.minLR = minLR
        spec.cooldownFraction = cooldownFraction
        spec.cooldownShape = cooldownShape
        return spec
    }

    private var milestoneSteps: [Int]? {
        milestones.map { $0.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
    }

    /// The parameters given as flags, by config name (`name` only when --scheduler is given): what `train`
    /// applies to its config's scheduler (`SchedulerSpec.applying`).
    var givenParameters: [String: Any] {
        guard let data = try? JSONEncoder().encode(spec),
              var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return [:] }
        if scheduler == nil { object["name"] = nil }
        return object
    }

    func validate() throws {
        // Without --scheduler, train checks the flags against its config's scheduler once they are applied.
        if scheduler != nil, let (name, kinds) = spec.inapplicableParameters.first {
            throw Self.inapplicable(name, kinds, kind)
        }
        if let milestones, let bad = milestones.split(separator: ",").first(where: { Int($0.trimmingCharacters(in: .whitespaces)) == nil }) {
            throw ValidationError("--milestones: '\(bad)' is not a whole number of steps")
        }
        if [window != nil, windowFraction != nil, windowEpochs != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give one of --window, --window-fraction and --window-epochs")
        }
        if emaAlpha != nil && smoothing != .ema { throw ValidationError("--ema-alpha needs --smoothing ema") }
    }

    /// Builds the chosen scheduler. `defaultTotalSteps` and `defaultBaseLR` come from a replayed log.
    func makeScheduler(defaultTotalSteps: Int? = nil, defaultBaseLR: Double? = nil) throws -> AnyScheduler {
        do {
            return try spec.makeScheduler(defaultTotalSteps: defaultTotalSteps, defaultBaseLR: defaultBaseLR)
        } catch let error as SchedulerParameterError where error.parameter == "total_steps" && error.value == "unset" {
            throw ValidationError("--scheduler \(kind.rawValue) needs --total-steps (\(error.requirement))")
        } catch let error as SchedulerParameterError where error.value == "unset" {
            throw ValidationError("--scheduler \(kind.rawValue) needs \(Self.flag(error.parameter))")
        } catch let error as SchedulerParameterError where error.value == "set" {
            if let (name, kinds) = spec.inapplicableParameters.first { throw Self.inapplicable(name, kinds, kind) }
            throw ValidationError("\(Self.flag(error.parameter)) \(error.requirement)")
        }
    }

    static func inapplicable(_ name: String, _ kinds: [SchedulerKind], _ kind: SchedulerKind) -> ValidationError {
        ValidationError("\(flag(name)) applies to \(kinds.map(\.rawValue).joined(separator: ", ")), not to --scheduler \(kind.rawValue)")
    }

    /// `window_fraction` -> `--window-fraction`.
    static func flag(_ parameter: String) -> String {
        "--" + parameter.replacingOccurrences(of: "_", with: "-")
    }
}

typealias SchedulerKind = SchedulerSpec.Kind
typealias Smoothing = SchedulerSpec.Smoothing
typealias RestartAfter = SchedulerSpec.RestartAfter

extension SchedulerSpec.Kind: ExpressibleByArgument {}
extension SchedulerSpec.Smoothing: ExpressibleByArgument {}
extension SchedulerSpec.RestartAfter: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}
extension FastFace.Startup: ExpressibleByArgument {}
extension ReduceLROnPlateau.ThresholdMode: ExpressibleByArgument {}
extension WarmupStableDecay.CooldownShape: ExpressibleByArgument {}
