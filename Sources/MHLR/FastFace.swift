/// FastFace, the O(1) form of the released code (shared/reference/mhlr.md, section 2).
///
/// With x_t = L_{t-1} - L_t (t >= 2, 1-based over the finite losses fed), a doubly smoothed loss drop
/// E_t = (2 - alpha - beta) E_{t-1} - (1 - alpha)(1 - beta) E_{t-2} + alpha beta x_t
/// (D_t = (1 - alpha) D_{t-1} + alpha x_t, E_t = beta D_t + (1 - beta) E_{t-1} written as one recursion).
/// When E_t stays below the threshold for more than K = floor(tolerance * totalSteps) steps, the LR halves
/// (divides by `decayFactor`), at most `maxHalvings` times. The decision after step t sets the LR of step t + 1.
public struct FastFace: LearningRateScheduler, Equatable {
    /// How the recursion is seeded at t = 2 (both set E_2 = alpha x_2).
    public enum Startup: String, Codable, Sendable {
        /// E_1 = alpha x_2 as well: identical to the two-stage form with D_1 = 0, E_2 = D_2.
        case corrected
        /// E_1 = 0, as the released code does: a start-up transient that can cause a spurious early decay.
        case released
    }

    /// The detector's parameters; defaults are the released ones.
    public struct Configuration: Codable, Equatable, Sendable {
        /// T: the planned length of the run; sets the tolerance K.
        public var totalSteps: Int
        public var alpha: Double = 1e-3
        public var beta: Double = 1e-3
        /// lambda, in loss units per step: a smoothed drop below it counts as plateau.
        public var threshold: Double = 5e-5
        /// tau: the plateau must last more than floor(tau * totalSteps) steps before a decay.
        public var tolerance: Double = 0.05
        public var decayFactor: Double = 2
        /// The cap: decisions after this many decays leave the LR unchanged.
        public var maxHalvings: Int = 8
        public var startup: Startup = .corrected

        public init(
            totalSteps: Int, alpha: Double = 1e-3, beta: Double = 1e-3, threshold: Double = 5e-5,
            tolerance: Double = 0.05, decayFactor: Double = 2, maxHalvings: Int = 8, startup: Startup = .corrected
        ) {
            self.totalSteps = totalSteps
            self.alpha = alpha
            self.beta = beta
            self.threshold = threshold
            self.tolerance = tolerance
            self.decayFactor = decayFactor
            self.maxHalvings = maxHalvings
            self.startup = startup
        }

        /// K = floor(tau * T).
        public var toleranceSteps: Int { Int((tolerance * Double(totalSteps)).rounded(.down)) }

        func validate(baseLR: Double) throws {
            try ParameterChecks.positiveFinite(baseLR, "baseLR")
            try ParameterChecks.atLeast(totalSteps, 1, "totalSteps")
            try ParameterChecks.unitWeight(alpha, "alpha")
            try ParameterChecks.unitWeight(beta, "beta")
            try ParameterChecks.finite(threshold, "threshold")
            guard tolerance.isFinite, tolerance >= 0, tolerance <= 1 else {
                throw SchedulerParameterError(
                    parameter: "tolerance", value: "\(tolerance)", requirement: "a number in [0, 1]")
            }
            try ParameterChecks.decayFactor(decayFactor, "decayFactor")
            try ParameterChecks.atLeast(maxHalvings, 0, "maxHalvings")
        }
    }

    public let baseLR: Double
    public let configuration: Configuration
    public private(set) var learningRate: Double
    public private(set) var stepsFed = 0
    public private(set) var nonFiniteLosses = 0
    /// The latest E_t; nil until two finite losses have been fed.
    public private(set) var response: Double?
    /// Consecutive steps with E_t below the threshold since the last decay ("count").
    public private(set) var stepsBelowThreshold = 0
    /// Decays applied so far (at most `maxHalvings`).
    public private(set) var halvings = 0

    /// t: finite losses fed.
    private var finiteLosses = 0
    private var previousLoss = 0.0
    /// E_{t-2}; E_{t-1} is `response`.
    private var olderResponse = 0.0
    private let toleranceSteps: Int

    public init(baseLR: Double, configuration: Configuration) throws {
        try configuration.validate(baseLR: baseLR)
        self.baseLR = baseLR
        self.configuration = configuration
        learningRate = baseLR
        toleranceSteps = configuration.toleranceSteps
    }

    public mutating func step(loss: Double) -> Double {
        stepsFed += 1
        guard loss.isFinite else {
            nonFiniteLosses += 1
            return learningRate
        }
        finiteLosses += 1
        let drop = previousLoss - loss
        previousLoss = loss
        let next: Double
        switch (finiteLosses, response) {
        case (1, _):
            return learningRate
        case (_, nil):
            // t = 2: E_2 = alpha x_2; E_1 is alpha x_2 (corrected) or 0 (released).
            next = configuration.alpha * drop
            olderResponse = configuration.startup == .corrected ? next : 0
        case (_, let last?):
            let alpha = configuration.alpha
            let beta = configuration.beta
            next = (2 - alpha - beta) * last - (1 - alpha) * (1 - beta) * olderResponse + alpha * beta * drop
            olderResponse = last
        }
        response = next
        decide(response: next)
        return learningRate
    }

    @inline(__always)
    private mutating func decide(response: Double) {
        guard response < configuration.threshold else {
            stepsBelowThreshold = 0
            return
        }
        if stepsBelowThreshold < toleranceSteps {
            stepsBelowThreshold += 1
            return
        }
        stepsBelowThreshold = 0
        if halvings < configuration.maxHalvings {
            halvings += 1
            learningRate /= configuration.decayFactor
        }
    }
}

extension FastFace {
    private enum CodingKeys: String, CodingKey {
        case baseLR, configuration, learningRate, stepsFed, nonFiniteLosses, response, stepsBelowThreshold
        case halvings, finiteLosses, previousLoss, olderResponse
    }

    /// Decodes a saved state, re-checking its configuration so a damaged checkpoint throws.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        baseLR = try container.decode(Double.self, forKey: .baseLR)
        configuration = try container.decode(Configuration.self, forKey: .configuration)
        try configuration.validate(baseLR: baseLR)
        toleranceSteps = configuration.toleranceSteps
        learningRate = try container.decode(Double.self, forKey: .learningRate)
        stepsFed = try container.decode(Int.self, forKey: .stepsFed)
        nonFiniteLosses = try container.decode(Int.self, forKey: .nonFiniteLosses)
        response = try container.decodeIfPresent(Double.self, forKey: .response)
        stepsBelowThreshold = try container.decode(Int.self, forKey: .stepsBelowThreshold)
        halvings = try container.decode(Int.self, forKey: .halvings)
        finiteLosses = try container.decode(Int.self, forKey: .finiteLosses)
        previousLoss = try container.decode(Double.self, forKey: .previousLoss)
        olderResponse = try container.decode(Double.self, forKey: .olderResponse)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(baseLR, forKey: .baseLR)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(learningRate, forKey: .learningRate)
        try container.encode(stepsFed, forKey: .stepsFed)
        try container.encode(nonFiniteLosses, forKey: .nonFiniteLosses)
        try container.encodeIfPresent(response, forKey: .response)
        try container.encode(stepsBelowThreshold, forKey: .stepsBelowThreshold)
        try container.encode(halvings, forKey: .halvings)
        try container.encode(finiteLosses, forKey: .finiteLosses)
        try container.encode(previousLoss, forKey: .previousLoss)
        try container.encode(olderResponse, forKey: .olderResponse)
    }
}
