import Foundation

/// Cosine annealing with an optional linear warm-up, stepped per iteration.
///
/// Defined as PyTorch's LambdaLR with this factor (scripts/reference/scheduler_fixtures.py), l = steps taken,
/// w = warmupSteps, T = totalSteps, r = minimumLR / baseLR:
///   l < w:  (l + 1) / w                        (step 1 runs at base / w, step w at the base LR)
///   l >= w: r + (1 - r) * (1 + cos(pi * p)) / 2,  p = min(l - w, T - w) / (T - w)
/// so the LR stays at `minimumLR` after T. With w = 0 this is PyTorch's CosineAnnealingLR(T_max = T, eta_min)
/// in closed form, for l <= T.
public struct CosineAnnealingLR: LearningRateScheduler, Equatable {
    public let baseLR: Double
    public let totalSteps: Int
    public let warmupSteps: Int
    public let minimumLR: Double
    public private(set) var learningRate: Double
    public private(set) var stepsFed = 0
    public private(set) var nonFiniteLosses = 0

    public init(baseLR: Double, totalSteps: Int, warmupSteps: Int = 0, minimumLR: Double = 0) throws {
        try ParameterChecks.positiveFinite(baseLR, "baseLR")
        try ParameterChecks.atLeast(warmupSteps, 0, "warmupSteps")
        try ParameterChecks.atLeast(totalSteps, warmupSteps + 1, "totalSteps")
        try ParameterChecks.floor(minimumLR, baseLR: baseLR, "minimumLR")
        self.baseLR = baseLR
        self.totalSteps = totalSteps
        self.warmupSteps = warmupSteps
        self.minimumLR = minimumLR
        learningRate = 0
        learningRate = learningRate(afterSteps: 0)
    }

    /// The LR after `steps` scheduler steps (closed form).
    public func learningRate(afterSteps steps: Int) -> Double {
        if steps < warmupSteps { return baseLR * (Double(steps + 1) / Double(warmupSteps)) }
        let ratio = minimumLR / baseLR
        let span = Double(totalSteps - warmupSteps)
        let progress = Double(min(steps - warmupSteps, totalSteps - warmupSteps)) / span
        return baseLR * (ratio + (1 - ratio) * (1 + cos(Double.pi * progress)) / 2)
    }

    public mutating func step(loss: Double) -> Double {
        stepsFed += 1
        if !loss.isFinite { nonFiniteLosses += 1 }
        learningRate = learningRate(afterSteps: stepsFed)
        return learningRate
    }
}
