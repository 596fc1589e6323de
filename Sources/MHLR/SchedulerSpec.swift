/// A scheduler described by name and parameters, as a config file or command line gives it; `makeScheduler`
/// builds it. Unset parameters take each scheduler's documented default. Codable with snake_case keys
/// (`name: mhlr`, `window: 4000`, `restart_after: none`), so a trainer's YAML or JSON config can hold one.
public struct SchedulerSpec: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case mhlr, fastface, poly, multistep, cosine, plateau, constant, wsd
    }

    /// MHLR's restart rule: after this many consecutive decays of one plateau, or never.
    public enum RestartAfter: Codable, Equatable, Sendable {
        case after(Int)
        case never

        public init?(_ text: String) {
            if text == "none" { self = .never } else if let count = Int(text) { self = .after(count) } else { return nil }
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let count = try? container.decode(Int.self) { self = .after(count); return }
            let text = try container.decode(String.self)
            guard let value = RestartAfter(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a whole number or 'none', found '\(text)'")
            }
            self = value
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .after(let count): try container.encode(count)
            case .never: try container.encode("none")
            }
        }
    }

    public enum Smoothing: String, Codable, Sendable { case box, ema }

    public var kind: Kind = .mhlr
    public var baseLR: Double?
    public var totalSteps: Int?
    // MHLR
    public var window: Int?
    public var windowFraction: Double?
    /// mhlr: the window in epochs, for a trainer that knows its steps per epoch (`resolvingEpochs`).
    public var windowEpochs: Double?
    public var threshold: Double?
    public var patience: Int?
    /// mhlr: the patience in epochs (`resolvingEpochs`).
    public var patienceEpochs: Double?
    /// mhlr: end the run at the first plateau after this many decays (num_epoch becomes a ceiling).
    public var stopAfterDecays: Int?
    /// mhlr: after each epoch boundary, this many steps neither count towards a plateau nor reset it.
    public var boundaryHold: Int?
    public var decay: Double?
    public var restartAfter: RestartAfter?
    public var smoothing: Smoothing?
    public var emaAlpha: Double?
    // FastFace
    public var alpha: Double?
    public var beta: Double?
    public var tolerance: Double?
    public var maxHalvings: Int?
    public var startup: FastFace.Startup?
    // Baselines
    public var warmupSteps: Int?
    public var power: Double?
    public var milestones: [Int]?
    /// multistep: milestones in epochs, for a trainer that knows its steps per epoch (it sets `milestones`).
    public var milestoneEpochs: [Double]?
    public var gamma: Double?
    public var factor: Double?
    public var thresholdMode: ReduceLROnPlateau.ThresholdMode?
    public var cooldown: Int?
    public var eps: Double?
    public var minLR: Double?
    // WSD
    /// The share of the run the cool-down takes (default 0.2).
    public var cooldownFraction: Double?
    public var cooldownShape: WarmupStableDecay.CooldownShape?

    public init(kind: Kind = .mhlr) {
        self.kind = kind
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case kind = "name", baseLR = "base_lr", totalSteps = "total_steps", window, windowFraction = "window_fraction"
        case threshold, patience, decay, restartAfter = "restart_after", smoothing, emaAlpha = "ema_alpha"
        case alpha, beta, tolerance, maxHalvings = "max_halvings", startup, warmupSteps = "warmup_steps", power
        case milestones, milestoneEpochs = "milestone_epochs", gamma, factor, thresholdMode = "threshold_mode", cooldown, eps
        case windowEpochs = "window_epochs", patienceEpochs = "patience_epochs", stopAfterDecays = "stop_after_decays"
        case boundaryHold = "boundary_hold"
        case minLR = "min_lr", cooldownFraction = "cooldown_fraction", cooldownShape = "cooldown_shape"
    }

    /// The parameters' snake_case names, as config files give them.
    public static var parameterNames: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// The parameters that are set and do not apply to `kind`, by their snake_case names.
    public var inapplicableParameters: [(name: String, appliesTo: [Kind])] {
        let table: [(String, Bool, [Kind])] = [
            ("window", window != nil, [.mhlr]), ("window_fraction", windowFraction != nil, [.mhlr]),
            ("window_epochs", windowEpochs != nil, [.mhlr]), ("patience_epochs", patienceEpochs != nil, [.mhlr]),
            ("stop_after_decays", stopAfterDecays != nil, [.mhlr]), ("boundary_hold", boundaryHold != nil, [.mhlr]),
            ("threshold", threshold != nil, [.mhlr, .fastface, .plateau]), ("patience", patience != nil, [.mhlr, .plateau]),
            ("decay", decay != nil, [.mhlr, .fastface]), ("restart_after", restartAfter != nil, [.mhlr]),
            ("smoothing", smoothing != nil, [.mhlr]), ("ema_alpha", emaAlpha != nil, [.mhlr]),
            ("alpha", alpha != nil, [.fastface]), ("beta", beta != nil, [.fastface]),
            ("tolerance", tolerance != nil, [.fastface]), ("max_halvings", maxHalvings != nil, [.fastface]),
            ("startup", startup != nil, [.fastface]), ("warmup_steps", warmupSteps != nil, [.poly, .cosine, .wsd, .constant]),
            ("power", power != nil, [.poly]), ("milestones", milestones != nil, [.multistep]),
            ("milestone_epochs", milestoneEpochs != nil, [.multistep]),
            ("gamma", gamma != nil, [.multistep]), ("factor", factor != nil, [.plateau]),
            ("threshold_mode", thresholdMode != nil, [.mhlr, .plateau]), ("cooldown", cooldown != nil, [.plateau]),
            ("eps", eps != nil, [.plateau]), ("min_lr", minLR != nil, [.mhlr, .cosine, .plateau, .wsd]),
            ("cooldown_fraction", cooldownFraction != nil, [.wsd]), ("cooldown_shape", cooldownShape != nil, [.wsd]),
        ]
        return table.filter { $0.1 && !$0.2.contains(kind) }.map { ($0.0, $0.2) }
    }

    /// The spec with the parameters given in epochs (`window_epochs`, `patience_epochs`, `milestone_epochs`)
    /// converted to steps, rounded: what a trainer, which knows its steps per epoch, builds from.
    public func resolvingEpochs(stepsPerEpoch: Int) throws -> SchedulerSpec {
        var spec = self
        let perEpoch = Double(stepsPerEpoch)
        func steps(_ epochs: Double) -> Int { Int((epochs * perEpoch).rounded()) }
        if let windowEpochs {
            guard window == nil, windowFraction == nil else {
                throw SchedulerParameterError(parameter: "window_epochs", value: "\(windowEpochs)",
                                              requirement: "give one of window, window_fraction and window_epochs")
            }
            spec.window = steps(windowEpochs)
            spec.windowEpochs = nil
        }
        if let patienceEpochs {
            guard patience == nil else {
                throw SchedulerParameterError(parameter: "patience_epochs", value: "\(patienceEpochs)",
                                              requirement: "give patience or patience_epochs, not both")
            }
            spec.patience = steps(patienceEpochs)
            spec.patienceEpochs = nil
        }
        if let milestoneEpochs {
            guard milestones == nil else {
                throw SchedulerParameterError(parameter: "milestone_epochs", value: "\(milestoneEpochs)",
                                              requirement: "give milestones or milestone_epochs, not both")
            }
            spec.milestones = milestoneEpochs.map(steps)
            spec.milestoneEpochs = nil
        }
        return spec
    }

    /// Builds the scheduler. `defaultTotalSteps` and `defaultBaseLR` fill `totalSteps` and `baseLR` when unset
    /// (a replayed log's length and first LR, a trainer's step count); the base LR falls back to 0.1.
    public func makeScheduler(defaultTotalSteps: Int? = nil, defaultBaseLR: Double? = nil) throws -> AnyScheduler {
        if let (name, kinds) = inapplicableParameters.first {
            throw SchedulerParameterError(parameter: name, value: "set",
                                          requirement: "applies to \(kinds.map(\.rawValue).joined(separator: ", ")), not to \(kind.rawValue)")
        }
        if window != nil && windowFraction != nil {
            throw SchedulerParameterError(parameter: "window", value: "\(window!)", requirement: "give window or window_fraction, not both")
        }
        for (name, value) in [("window_epochs", windowEpochs), ("patience_epochs", patienceEpochs)] where value != nil {
            throw SchedulerParameterError(parameter: name, value: "set",
                                          requirement: "needs a trainer, which knows the steps per epoch; give it in steps")
        }
        if emaAlpha != nil && smoothing != .ema {
            throw SchedulerParameterError(parameter: "ema_alpha", value: "\(emaAlpha!)", requirement: "needs smoothing ema")
        }
        let total = totalSteps ?? defaultTotalSteps
        if let total, total < 1 {
            throw SchedulerParameterError(parameter: "total_steps", value: "\(total)", requirement: "at least 1")
        }
        func requireTotal(_ what: String) throws -> Int {
            guard let total else {
                throw SchedulerParameterError(parameter: "total_steps", value: "unset",
                                              requirement: "\(what) needs the total number of training steps")
            }
            return total
        }
        let base = baseLR ?? defaultBaseLR ?? 0.1
        switch kind {
        case .mhlr:
            let windowSteps: Int
            if let window {
                windowSteps = window
            } else if let windowFraction {
                windowSteps = Int((windowFraction * Double(try requireTotal("window_fraction"))).rounded(.down))
            } else if let total {
                windowSteps = max(2, Int((0.015 * Double(total)).rounded(.down)))   // mhlr.md's published default
            } else {
                windowSteps = 4000
            }
            var restart: Int? = 3
            if case .after(let count)? = restartAfter { restart = count }
            if case .never? = restartAfter { restart = nil }
            let configuration = MHLR.Configuration(
                windowSteps: windowSteps, threshold: threshold ?? 0.06, patienceSteps: patience,
                decayFactor: decay ?? 2, restartAfter: restart,
                smoothing: smoothing == .ema ? .exponential(alpha: emaAlpha ?? 0.001) : .box, minimumLR: minLR,
                thresholdMode: thresholdMode, stopAfterDecays: stopAfterDecays,
                boundaryHoldSteps: boundaryHold)
            return .mhlr(try MHLR(baseLR: base, configuration: configuration))
        case .fastface:
            let configuration = FastFace.Configuration(
                totalSteps: try requireTotal("fastface"), alpha: alpha ?? 1e-3, beta: beta ?? 1e-3,
                threshold: threshold ?? 5e-5, tolerance: tolerance ?? 0.05, decayFactor: decay ?? 2,
                maxHalvings: maxHalvings ?? 8, startup: startup ?? .corrected)
            return .fastFace(try FastFace(baseLR: base, configuration: configuration))
        case .poly:
            return .polynomial(try PolynomialLRWarmup(
                baseLR: base, warmupSteps: warmupSteps ?? 0, totalSteps: try requireTotal("poly"), power: power ?? 1))
        case .multistep:
            guard let milestones else {
                if milestoneEpochs != nil {
                    throw SchedulerParameterError(parameter: "milestone_epochs", value: "set",
                                                  requirement: "needs a trainer, which knows the steps per epoch; give milestones in steps")
                }
                throw SchedulerParameterError(parameter: "milestones", value: "unset", requirement: "multistep needs its milestones")
            }
            return .multiStep(try MultiStepLR(baseLR: base, milestones: milestones, gamma: gamma ?? 0.1))
        case .cosine:
            return .cosine(try CosineAnnealingLR(
                baseLR: base, totalSteps: try requireTotal("cosine"), warmupSteps: warmupSteps ?? 0, minimumLR: minLR ?? 0))
        case .plateau:
            return .plateau(try ReduceLROnPlateau(
                baseLR: base, factor: factor ?? 0.1, patience: patience ?? 10, threshold: threshold ?? 1e-4,
                thresholdMode: thresholdMode ?? .rel, cooldown: cooldown ?? 0, minimumLR: minLR ?? 0, eps: eps ?? 1e-8))
        case .constant:
            return .constant(try ConstantLR(baseLR: base, warmupSteps: warmupSteps ?? 0))
        case .wsd:
            return .wsd(try WarmupStableDecay(
                baseLR: base, totalSteps: try requireTotal("wsd"), warmupSteps: warmupSteps ?? 0,
                cooldownFraction: cooldownFraction ?? 0.2, cooldownShape: cooldownShape ?? .linear, minimumLR: minLR ?? 0))
        }
    }
}
