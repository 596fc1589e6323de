/// A constant learning rate, optionally after a linear warm-up (the LR of schedule-free training, and the
/// baseline every schedule is compared with). With l = steps taken and w = warmupSteps: base x (l + 1) / w
/// for l < w (the warm-up of `CosineAnnealingLR`), then base.
public struct ConstantLR: LearningRateScheduler, Equatable {
    public let baseLR: Double
    public let warmupSteps: Int
    public private(set) var learningRate: Double
    public private(set) var stepsFed = 0
    public private(set) var nonFiniteLosses = 0

    public init(baseLR: Double, warmupSteps: Int = 0) throws {
        guard baseLR.isFinite, baseLR > 0 else {
            throw SchedulerParameterError(parameter: "baseLR", value: "\(baseLR)", requirement: "a finite number > 0")
        }
        try ParameterChecks.atLeast(warmupSteps, 0, "warmupSteps")
        self.baseLR = baseLR
        self.warmupSteps = warmupSteps
        learningRate = 0
        learningRate = learningRate(afterSteps: 0)
    }

    /// The LR after `steps` scheduler steps.
    public func learningRate(afterSteps steps: Int) -> Double {
        steps < warmupSteps ? baseLR * Double(steps + 1) / Double(warmupSteps) : baseLR
    }

    public mutating func step(loss: Double) -> Double {
        stepsFed += 1
        if !loss.isFinite { nonFiniteLosses += 1 }
        if stepsFed <= warmupSteps { learningRate = learningRate(afterSteps: stepsFed) }
        return learningRate
    }
}

extension ConstantLR {
    private enum CodingKeys: String, CodingKey { case baseLR, warmupSteps, learningRate, stepsFed, nonFiniteLosses }

    /// States saved before the warm-up existed hold only the LR: their base is that LR, with no warm-up.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        learningRate = try container.decode(Double.self, forKey: .learningRate)
        baseLR = try container.decodeIfPresent(Double.self, forKey: .baseLR) ?? learningRate
        warmupSteps = try container.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? 0
        stepsFed = try container.decode(Int.self, forKey: .stepsFed)
        nonFiniteLosses = try container.decode(Int.self, forKey: .nonFiniteLosses)
        guard baseLR.isFinite, baseLR > 0, warmupSteps >= 0, learningRate.isFinite, learningRate > 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "ConstantLR state out of range"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(baseLR, forKey: .baseLR)
        try container.encode(warmupSteps, forKey: .warmupSteps)
        try container.encode(learningRate, forKey: .learningRate)
        try container.encode(stepsFed, forKey: .stepsFed)
        try container.encode(nonFiniteLosses, forKey: .nonFiniteLosses)
    }
}
