import MHLR

/// A sampled record of what a scheduler saw and did, for plots: at most about `maxPoints` points
/// whatever the run's length, so that a 10^6-step run draws as fast as a short one.
public struct ScheduleTrace: Codable, Sendable {
    public struct Point: Codable, Sendable {
        /// The first step that runs with `learningRate` (the loss of step - 1 was just fed).
        public var step: Int
        public var learningRate: Double
        public var smoothedLoss: Double?
        public var response: Double?
    }

    public private(set) var points: [Point] = []
    public let stride: Int

    public init(totalSteps: Int, maxPoints: Int = 3000) {
        stride = max(1, totalSteps / max(1, maxPoints))
    }

    /// Records the scheduler's state after the loss of `step` was fed, every `stride` steps (and when `force`).
    public mutating func record(step: Int, scheduler: AnyScheduler, force: Bool = false) {
        guard force || step % stride == 0 else { return }
        let probe = scheduler.detectorProbe
        points.append(Point(step: step + 1, learningRate: scheduler.learningRate,
                            smoothedLoss: probe.smoothedLoss, response: probe.response))
    }
}

extension AnyScheduler {
    /// What a loss-watching scheduler currently sees: its smoothed loss and its plateau response.
    public var detectorProbe: (smoothedLoss: Double?, response: Double?) {
        switch self {
        case .mhlr(let scheduler): return (scheduler.smoothedLoss, scheduler.haarResponse)
        case .fastFace(let scheduler): return (nil, scheduler.response)
        default: return (nil, nil)
        }
    }

    /// MHLR's Haar response after the last loss it was fed; nil for other schedulers, and until its window has filled.
    public var haarResponse: Double? {
        guard case .mhlr(let scheduler) = self else { return nil }
        return scheduler.haarResponse
    }

    /// The threshold the plateau response is compared with, for detectors.
    public var detectorThreshold: Double? {
        switch self {
        case .mhlr(let scheduler): return scheduler.configuration.threshold
        case .fastFace(let scheduler): return scheduler.configuration.threshold
        default: return nil
        }
    }

    /// The name of the scheduler's kind as the command line spells it.
    public var kindName: String {
        switch self {
        case .mhlr: return "mhlr"
        case .fastFace: return "fastface"
        case .polynomial: return "poly"
        case .multiStep: return "multistep"
        case .cosine: return "cosine"
        case .plateau: return "plateau"
        case .constant: return "constant"
        case .wsd: return "wsd"
        }
    }

    var smoothingName: String? {
        guard case .mhlr(let scheduler) = self else { return nil }
        switch scheduler.configuration.smoothing {
        case .box: return "box average (\(scheduler.configuration.windowSteps) steps)"
        case .exponential(let alpha): return "EMA (alpha \(alpha))"
        }
    }
}
