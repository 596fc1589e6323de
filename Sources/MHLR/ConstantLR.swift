/// A constant learning rate: the baseline every schedule is compared with.
public struct ConstantLR: LearningRateScheduler, Equatable {
    public private(set) var learningRate: Double
    public private(set) var stepsFed = 0
    public private(set) var nonFiniteLosses = 0

    public init(baseLR: Double) throws {
        guard baseLR.isFinite, baseLR > 0 else {
            throw SchedulerParameterError(parameter: "baseLR", value: "\(baseLR)", requirement: "a finite number > 0")
        }
        learningRate = baseLR
    }

    public mutating func step(loss: Double) -> Double {
        stepsFed += 1
        if !loss.isFinite { nonFiniteLosses += 1 }
        return learningRate
    }
}
