/// PyTorch's ReduceLROnPlateau in mode "min", fed the training loss every step.
///
/// A loss better than the best so far (rel: below best * (1 - threshold); abs: below best - threshold) resets
/// the bad-step count; more than `patience` bad steps multiply the LR by `factor` (not below `minimumLR`, and
/// only if that changes it by more than `eps`), then `cooldown` steps ignore bad steps. Non-finite losses are
/// skipped (PyTorch would count a NaN as a bad step).
public struct ReduceLROnPlateau: LearningRateScheduler, Equatable {
    /// How "better than best" is measured.
    public enum ThresholdMode: String, Codable, Sendable {
        case rel
        case abs
    }

    public let baseLR: Double
    public let factor: Double
    public let patience: Int
    public let threshold: Double
    public let thresholdMode: ThresholdMode
    public let cooldown: Int
    public let minimumLR: Double
    public let eps: Double
    public private(set) var learningRate: Double
    public private(set) var stepsFed = 0
    public private(set) var nonFiniteLosses = 0
    /// The best loss so far; nil before the first finite loss (PyTorch's +inf, which JSON cannot hold).
    public private(set) var best: Double?
    public private(set) var badSteps = 0
    public private(set) var cooldownRemaining = 0

    public init(
        baseLR: Double, factor: Double = 0.1, patience: Int = 10, threshold: Double = 1e-4,
        thresholdMode: ThresholdMode = .rel, cooldown: Int = 0, minimumLR: Double = 0, eps: Double = 1e-8
    ) throws {
        try ParameterChecks.positiveFinite(baseLR, "baseLR")
        guard factor.isFinite, factor > 0, factor < 1 else {
            throw SchedulerParameterError(parameter: "factor", value: "\(factor)", requirement: "a number in (0, 1)")
        }
        try ParameterChecks.atLeast(patience, 0, "patience")
        try ParameterChecks.nonNegativeFinite(threshold, "threshold")
        if thresholdMode == .rel, threshold >= 1 {
            throw SchedulerParameterError(
                parameter: "threshold", value: "\(threshold)", requirement: "a number in [0, 1) in rel mode")
        }
        try ParameterChecks.atLeast(cooldown, 0, "cooldown")
        try ParameterChecks.floor(minimumLR, baseLR: baseLR, "minimumLR")
        try ParameterChecks.nonNegativeFinite(eps, "eps")
        self.baseLR = baseLR
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.thresholdMode = thresholdMode
        self.cooldown = cooldown
        self.minimumLR = minimumLR
        self.eps = eps
        learningRate = baseLR
    }

    private func isBetter(_ loss: Double) -> Bool {
        guard let best else { return true }
        switch thresholdMode {
        case .rel: return loss < best * (1 - threshold)
        case .abs: return loss < best - threshold
        }
    }

    public mutating func step(loss: Double) -> Double {
        stepsFed += 1
        guard loss.isFinite else {
            nonFiniteLosses += 1
            return learningRate
        }
        if isBetter(loss) {
            best = loss
            badSteps = 0
        } else {
            badSteps += 1
        }
        if cooldownRemaining > 0 {
            cooldownRemaining -= 1
            badSteps = 0
        }
        if badSteps > patience {
            let reduced = max(learningRate * factor, minimumLR)
            if learningRate - reduced > eps { learningRate = reduced }
            cooldownRemaining = cooldown
            badSteps = 0
        }
        return learningRate
    }
}
