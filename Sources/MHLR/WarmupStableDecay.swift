import Foundation

/// Warmup-stable-decay (WSD; Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed
/// Training Durations"): a linear warm-up, the base LR held constant, then a cool-down over the last fraction
/// of the run. Stepped per iteration, closed form. With l = steps taken, w = warmupSteps, T = totalSteps,
/// D = the cool-down's length = round(cooldownFraction x T), r = minimumLR:
///   l < w:            base x (l + 1) / w           (the same warm-up as `CosineAnnealingLR`)
///   w <= l < T - D:   base
///   l >= T - D:       r + (base - r) x shape(p),  p = min(l - (T - D), D) / D
/// with shape(p) = 1 - p (linear) or 1 - sqrt(p) (the paper's 1-sqrt, which holds the LR up longer), so the
/// last step of the run (l = T - 1) is just above r and the LR stays at r after T.
public struct WarmupStableDecay: LearningRateScheduler, Equatable {
    public enum CooldownShape: String, Codable, CaseIterable, Sendable {
        case linear
        case oneMinusSqrt = "1-sqrt"
    }

    public let baseLR: Double
    public let totalSteps: Int
    public let warmupSteps: Int
    public let cooldownFraction: Double
    public let cooldownShape: CooldownShape
    public let minimumLR: Double
    public private(set) var learningRate: Double
    public private(set) var stepsFed = 0
    public private(set) var nonFiniteLosses = 0

    public init(baseLR: Double, totalSteps: Int, warmupSteps: Int = 0, cooldownFraction: Double = 0.2,
                cooldownShape: CooldownShape = .linear, minimumLR: Double = 0) throws {
        try ParameterChecks.positiveFinite(baseLR, "baseLR")
        try ParameterChecks.atLeast(warmupSteps, 0, "warmupSteps")
        try ParameterChecks.atLeast(totalSteps, 1, "totalSteps")
        guard cooldownFraction > 0, cooldownFraction <= 1 else {
            throw SchedulerParameterError(parameter: "cooldownFraction", value: "\(cooldownFraction)", requirement: "must lie in (0, 1]")
        }
        try ParameterChecks.floor(minimumLR, baseLR: baseLR, "minimumLR")
        self.baseLR = baseLR
        self.totalSteps = totalSteps
        self.warmupSteps = warmupSteps
        self.cooldownFraction = cooldownFraction
        self.cooldownShape = cooldownShape
        self.minimumLR = minimumLR
        learningRate = 0
        guard warmupSteps <= totalSteps - cooldownSteps else {
            throw SchedulerParameterError(
                parameter: "warmupSteps", value: "\(warmupSteps)",
                requirement: "the warm-up must end before the cool-down's \(cooldownSteps) steps begin (total \(totalSteps))")
        }
        learningRate = learningRate(afterSteps: 0)
    }

    /// D: the steps of the cool-down, at least 1.
    public var cooldownSteps: Int { max(1, Int((cooldownFraction * Double(totalSteps)).rounded())) }

    /// The LR after `steps` scheduler steps (closed form).
    public func learningRate(afterSteps steps: Int) -> Double {
        if steps < warmupSteps { return baseLR * Double(steps + 1) / Double(warmupSteps) }
        let cooldownStart = totalSteps - cooldownSteps
        guard steps >= cooldownStart else { return baseLR }
        let progress = Double(min(steps - cooldownStart, cooldownSteps)) / Double(cooldownSteps)
        let shape = cooldownShape == .linear ? 1 - progress : 1 - progress.squareRoot()
        return minimumLR + (baseLR - minimumLR) * shape
    }

    public mutating func step(loss: Double) -> Double {
        stepsFed += 1
        if !loss.isFinite { nonFiniteLosses += 1 }
        learningRate = learningRate(afterSteps: stepsFed)
        return learningRate
    }
}
