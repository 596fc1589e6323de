/// A learning-rate schedule stepped once per training step.
///
/// The contract every scheduler in this library follows (see shared/reference/mhlr.md):
/// - before any loss is fed, `learningRate` is the LR of step 1;
/// - `step(loss:)` takes the loss of the step just run and returns the LR of the next step;
/// - a non-finite loss never changes a detector's state: it is counted in `nonFiniteLosses`
///   (closed-form schedules still advance their step counter, as PyTorch's would);
/// - the whole state is `Codable`, so a run encoded after N steps and decoded continues exactly.
public protocol LearningRateScheduler: Codable, Sendable {
    /// The learning rate the next training step runs with.
    var learningRate: Double { get }
    /// How many losses have been fed so far (finite or not).
    var stepsFed: Int { get }
    /// How many of the fed losses were NaN or infinite.
    var nonFiniteLosses: Int { get }
    /// Feeds the loss of the step just run; returns the learning rate for the next step.
    mutating func step(loss: Double) -> Double
    /// Tells the scheduler that the next loss is the first of a new epoch (the trainer's signal; a replay's
    /// from the log's epoch column). Only MHLR with `boundaryHoldSteps` acts on it.
    mutating func noteEpochBoundary()
}

extension LearningRateScheduler {
    public mutating func noteEpochBoundary() {}
}

/// Which way a learning-rate change went.
public enum LearningRateChange: String, Codable, Sendable {
    case down
    case up
}

/// One learning-rate change: from `step` on (1-based, the first step that runs with it) the LR is `newLR`.
public struct LearningRateEvent: Codable, Equatable, Sendable {
    public var step: Int
    public var oldLR: Double
    public var newLR: Double
    public var change: LearningRateChange

    public init(step: Int, oldLR: Double, newLR: Double) {
        self.step = step
        self.oldLR = oldLR
        self.newLR = newLR
        self.change = newLR < oldLR ? .down : .up
    }
}

/// A rejected scheduler parameter: names the parameter, the value given and what is allowed.
public struct SchedulerParameterError: Error, Equatable, CustomStringConvertible {
    public var parameter: String
    public var value: String
    public var requirement: String

    public init(parameter: String, value: String, requirement: String) {
        self.parameter = parameter
        self.value = value
        self.requirement = requirement
    }

    public var description: String {
        "invalid scheduler parameter \(parameter) = \(value): \(requirement)"
    }
}
