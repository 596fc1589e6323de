import ArgumentParser
import MHLR

enum SchedulerKind: String, CaseIterable, ExpressibleByArgument {
    case mhlr, fastface, poly, multistep, cosine, plateau, constant
}

enum Smoothing: String, CaseIterable, ExpressibleByArgument { case box, ema }

/// `--restart-after 3` or `--restart-after none`.
enum RestartAfter: ExpressibleByArgument, Equatable {
    case after(Int)
    case never

    init?(argument: String) {
        if argument == "none" { self = .never } else if let count = Int(argument) { self = .after(count) } else { return nil }
    }
}

/// The scheduler flags shared by `replay`, `schedule` and (later) `train`.
struct SchedulerOptions: ParsableArguments {
    @Option(help: "The learning-rate scheduler.")
    var scheduler: SchedulerKind = .mhlr

    @Option(name: .customLong("base-lr"), help: "The initial learning rate (replay: default the log's first logged LR, else 0.1).")
    var baseLR: Double?

    @Option(help: "Total training steps (replay: default the log's last step). Needed by fastface, poly, cosine and --window-fraction.")
    var totalSteps: Int?

    // MHLR
    @Option(help: "mhlr: window m in steps (default: floor(0.015 x total steps) when the total is known, else 4000).")
    var window: Int?
    @Option(help: "mhlr: window as a fraction of the total steps.")
    var windowFraction: Double?
    @Option(help: "mhlr, fastface, plateau: detection threshold (defaults 0.06, 5e-5, 1e-4).")
    var threshold: Double?
    @Option(help: "mhlr: plateau patience in steps (default 2 x window); plateau: epochs/steps without improvement (default 10).")
    var patience: Int?
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
    @Option(help: "poly, cosine: linear warm-up steps (default 0).")
    var warmupSteps: Int?
    @Option(help: "poly: power (default 1).")
    var power: Double?
    @Option(help: "multistep: comma-separated steps at which the LR is multiplied by --gamma.")
    var milestones: String?
    @Option(help: "multistep: multiplier at each milestone (default 0.1).")
    var gamma: Double?
    @Option(help: "plateau: multiplier on a plateau (default 0.1).")
    var factor: Double?
    @Option(help: "plateau: rel|abs (default rel).")
    var thresholdMode: ReduceLROnPlateau.ThresholdMode?
    @Option(help: "plateau: steps to wait after a decay (default 0).")
    var cooldown: Int?
    @Option(help: "plateau: smallest change of the LR that is applied (default 1e-8).")
    var eps: Double?
    @Option(name: .customLong("min-lr"), help: "mhlr: LR floor (default none); cosine: eta_min; plateau: min_lr (default 0).")
    var minLR: Double?

    /// The flags that were given and the schedulers each one applies to.
    private var givenFlags: [(flag: String, given: Bool, appliesTo: Set<SchedulerKind>)] {
        [("--window", window != nil, [.mhlr]), ("--window-fraction", windowFraction != nil, [.mhlr]),
         ("--threshold", threshold != nil, [.mhlr, .fastface, .plateau]), ("--patience", patience != nil, [.mhlr, .plateau]),
         ("--decay", decay != nil, [.mhlr, .fastface]), ("--restart-after", restartAfter != nil, [.mhlr]),
         ("--smoothing", smoothing != nil, [.mhlr]), ("--ema-alpha", emaAlpha != nil, [.mhlr]),
         ("--alpha", alpha != nil, [.fastface]), ("--beta", beta != nil, [.fastface]),
         ("--tolerance", tolerance != nil, [.fastface]), ("--max-halvings", maxHalvings != nil, [.fastface]),
         ("--startup", startup != nil, [.fastface]), ("--warmup-steps", warmupSteps != nil, [.poly, .cosine]),
         ("--power", power != nil, [.poly]), ("--milestones", milestones != nil, [.multistep]),
         ("--gamma", gamma != nil, [.multistep]), ("--factor", factor != nil, [.plateau]),
         ("--threshold-mode", thresholdMode != nil, [.plateau]), ("--cooldown", cooldown != nil, [.plateau]),
         ("--eps", eps != nil, [.plateau]), ("--min-lr", minLR != nil, [.mhlr, .cosine, .plateau])]
    }

    func validate() throws {
        for flag in givenFlags where flag.given && !flag.appliesTo.contains(scheduler) {
            let names = flag.appliesTo.map(\.rawValue).sorted().joined(separator: ", ")
            throw ValidationError("\(flag.flag) applies to \(names), not to --scheduler \(scheduler.rawValue)")
        }
        if window != nil && windowFraction != nil {
            throw ValidationError("give --window or --window-fraction, not both")
        }
        if emaAlpha != nil && smoothing != .ema {
            throw ValidationError("--ema-alpha needs --smoothing ema")
        }
    }

    /// The total step count, or an error naming the flag that needs it.
    private func requireTotal(_ total: Int?, for what: String) throws -> Int {
        guard let total else { throw ValidationError("\(what) needs --total-steps") }
        return total
    }

    /// Builds the chosen scheduler. `defaultTotalSteps` and `defaultBaseLR` come from a replayed log.
    func makeScheduler(defaultTotalSteps: Int? = nil, defaultBaseLR: Double? = nil) throws -> AnyScheduler {
        let total = totalSteps ?? defaultTotalSteps
        let base = baseLR ?? defaultBaseLR ?? 0.1
        if let total, total < 1 { throw ValidationError("--total-steps must be at least 1, got \(total)") }
        switch scheduler {
        case .mhlr:
            let windowSteps: Int
            if let window {
                windowSteps = window
            } else if let windowFraction {
                windowSteps = Int((windowFraction * Double(try requireTotal(total, for: "--window-fraction"))).rounded(.down))
            } else if let total {
                windowSteps = max(2, Int((0.015 * Double(total)).rounded(.down)))
            } else {
                windowSteps = 4000
            }
            let restart: Int?
            switch restartAfter ?? .after(3) {
            case .after(let count): restart = count
            case .never: restart = nil
            }
            let configuration = MHLR.Configuration(
                windowSteps: windowSteps, threshold: threshold ?? 0.06, patienceSteps: patience,
                decayFactor: decay ?? 2, restartAfter: restart,
                smoothing: smoothing == .ema ? .exponential(alpha: emaAlpha ?? 0.001) : .box, minimumLR: minLR)
            return .mhlr(try MHLR(baseLR: base, configuration: configuration))
        case .fastface:
            let configuration = FastFace.Configuration(
                totalSteps: try requireTotal(total, for: "--scheduler fastface"), alpha: alpha ?? 1e-3, beta: beta ?? 1e-3,
                threshold: threshold ?? 5e-5, tolerance: tolerance ?? 0.05, decayFactor: decay ?? 2,
                maxHalvings: maxHalvings ?? 8, startup: startup ?? .corrected)
            return .fastFace(try FastFace(baseLR: base, configuration: configuration))
        case .poly:
            return .polynomial(try PolynomialLRWarmup(
                baseLR: base, warmupSteps: warmupSteps ?? 0, totalSteps: try requireTotal(total, for: "--scheduler poly"),
                power: power ?? 1))
        case .multistep:
            guard let milestones else { throw ValidationError("--scheduler multistep needs --milestones (e.g. 8000,12000)") }
            let steps = try milestones.split(separator: ",").map { text -> Int in
                guard let step = Int(text.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--milestones: '\(text)' is not a whole number of steps")
                }
                return step
            }
            return .multiStep(try MultiStepLR(baseLR: base, milestones: steps, gamma: gamma ?? 0.1))
        case .cosine:
            return .cosine(try CosineAnnealingLR(
                baseLR: base, totalSteps: try requireTotal(total, for: "--scheduler cosine"),
                warmupSteps: warmupSteps ?? 0, minimumLR: minLR ?? 0))
        case .plateau:
            return .plateau(try ReduceLROnPlateau(
                baseLR: base, factor: factor ?? 0.1, patience: patience ?? 10, threshold: threshold ?? 1e-4,
                thresholdMode: thresholdMode ?? .rel, cooldown: cooldown ?? 0, minimumLR: minLR ?? 0, eps: eps ?? 1e-8))
        case .constant:
            return .constant(try ConstantLR(baseLR: base))
        }
    }
}

extension FastFace.Startup: ExpressibleByArgument {}
extension ReduceLROnPlateau.ThresholdMode: ExpressibleByArgument {}
