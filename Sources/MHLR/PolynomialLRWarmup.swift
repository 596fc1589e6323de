import Foundation

/// arcface_torch's PolynomialLRWarmup: linear warm-up to the base LR, then polynomial decay to 0.
///
/// With l = scheduler steps taken (= losses fed): LR = base for l = 0 (PyTorch's constructor step, so the
/// first iteration runs at the base LR), base * l / w for 1 <= l <= w, base * (1 - (l - w) / (t - w))^power
/// for w < l <= t, and 0 after t (arcface_torch keeps the LR of step t, which is 0).
public struct PolynomialLRWarmup: LearningRateScheduler, Equatable {
    public let baseLR: Double
    public let warmupSteps: Int
    public let totalSteps: Int
    public let power: Double
    public private(set) var learningRate: Double
    public private(set) var stepsFed = 0
    public private(set) var nonFiniteLosses = 0

    public init(baseLR: Double, warmupSteps: Int, totalSteps: Int, power: Double = 1) throws {
        try ParameterChecks.positiveFinite(baseLR, "baseLR")
        try ParameterChecks.atLeast(warmupSteps, 0, "warmupSteps")
        try ParameterChecks.atLeast(totalSteps, warmupSteps + 1, "totalSteps")
        try ParameterChecks.positiveFinite(power, "power")
        self.baseLR = baseLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.power = power
        learningRate = baseLR
    }

    /// The LR after `steps` scheduler steps (closed form).
    public func learningRate(afterSteps steps: Int) -> Double {
        if steps == 0 { return baseLR }
        if steps <= warmupSteps { return baseLR * Double(steps) / Double(warmupSteps) }
        if steps >= totalSteps { return 0 }
        return baseLR * pow(1 - Double(steps - warmupSteps) / Double(totalSteps - warmupSteps), power)
    }

    public mutating func step(loss: Double) -> Double {
        stepsFed += 1
        if !loss.isFinite { nonFiniteLosses += 1 }
        learningRate = learningRate(afterSteps: stepsFed)
        return learningRate
    }
}
