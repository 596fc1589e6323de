/// Feeds losses to a scheduler and records every LR change as a `LearningRateEvent`
/// (step = the first 1-based step that runs with the new LR).
public struct ScheduleRecorder<Scheduler: LearningRateScheduler>: Codable, Sendable {
    public private(set) var scheduler: Scheduler
    public private(set) var events: [LearningRateEvent] = []

    public init(_ scheduler: Scheduler) {
        self.scheduler = scheduler
    }

    /// Feeds the loss of the step just run; returns the LR of the next step.
    @discardableResult
    public mutating func step(loss: Double) -> Double {
        let oldLR = scheduler.learningRate
        let newLR = scheduler.step(loss: loss)
        if newLR != oldLR {
            // The loss of step stepsFed was just fed; the new LR applies from the next step.
            events.append(LearningRateEvent(step: scheduler.stepsFed + 1, oldLR: oldLR, newLR: newLR))
        }
        return newLR
    }

    public mutating func noteEpochBoundary() { scheduler.noteEpochBoundary() }
}

extension ScheduleRecorder: Equatable where Scheduler: Equatable {}

/// A recorder is itself a scheduler, so it can stand wherever one is expected (a trainer, a benchmark).
extension ScheduleRecorder: LearningRateScheduler {
    public var learningRate: Double { scheduler.learningRate }
    public var stepsFed: Int { scheduler.stepsFed }
    public var nonFiniteLosses: Int { scheduler.nonFiniteLosses }
}
