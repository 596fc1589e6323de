/// PyTorch's MultiStepLR: the LR is multiplied by `gamma` when the step count reaches each milestone.
///
/// Like PyTorch's chainable form, the LR is multiplied in place (lr * gamma), so trajectories match bit for bit.
public struct MultiStepLR: LearningRateScheduler, Equatable {
    public let baseLR: Double
    /// Scheduler step counts (>= 1, strictly increasing) after which the LR drops.
    public let milestones: [Int]
    public let gamma: Double
    public private(set) var learningRate: Double
    public private(set) var stepsFed = 0
    public private(set) var nonFiniteLosses = 0
    /// How many milestones have been passed.
    private var milestonesPassed = 0

    public init(baseLR: Double, milestones: [Int], gamma: Double = 0.1) throws {
        try ParameterChecks.positiveFinite(baseLR, "baseLR")
        if let first = milestones.first { try ParameterChecks.atLeast(first, 1, "milestones[0]") }
        for index in milestones.indices.dropFirst() where milestones[index] <= milestones[index - 1] {
            throw SchedulerParameterError(
                parameter: "milestones", value: "\(milestones)",
                requirement: "strictly increasing step counts (entry \(index) is \(milestones[index]))")
        }
        try ParameterChecks.positiveFinite(gamma, "gamma")
        self.baseLR = baseLR
        self.milestones = milestones
        self.gamma = gamma
        learningRate = baseLR
    }

    public mutating func step(loss: Double) -> Double {
        stepsFed += 1
        if !loss.isFinite { nonFiniteLosses += 1 }
        if milestonesPassed < milestones.count, milestones[milestonesPassed] == stepsFed {
            milestonesPassed += 1
            learningRate *= gamma
        }
        return learningRate
    }
}
