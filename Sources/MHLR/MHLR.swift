/// MHLR, the Haar form (shared/reference/mhlr.md, section 1): decays the LR as soon as the smoothed
/// training loss stops falling.
///
/// Indices below are 0-based over the finite losses fed (non-finite ones are skipped and counted):
/// the smoothed loss S_i is the box average A_i (defined for i >= m) or the exponential average E_i;
/// the Haar response H_i (i >= 2m) is the older half minus the newer half of S_{i-m} ... S_{i-1}, over m.
/// The decision after loss i sets the LR of the next step. Each step costs O(1): the sums slide over
/// two ring buffers and are kept compensated, so they agree with a fresh O(m) summation.
public struct MHLR: LearningRateScheduler, Equatable {
    /// How the raw loss is smoothed before the Haar kernel.
    public enum Smoothing: Codable, Equatable, Sendable {
        /// A_i = mean of the last m losses (the released code).
        case box
        /// E_i = alpha * L_i + (1 - alpha) * E_{i-1}, E_0 = L_0 (the paper's text; alpha about 0.001).
        case exponential(alpha: Double)
    }

    /// The detector's parameters; defaults reproduce the published runs.
    public struct Configuration: Codable, Equatable, Sendable {
        /// m: losses per box average and averages per Haar window.
        public var windowSteps: Int
        /// lambda, in loss units: a response below it counts as plateau.
        public var threshold: Double
        /// P: plateau steps tolerated before a decay; nil means 2 * windowSteps.
        public var patienceSteps: Int?
        /// delta: a decay divides the LR by it; a restart multiplies by its square.
        public var decayFactor: Double
        /// R: the (R+1)-th decay within one unbroken plateau is a restart instead; nil disables restarts.
        public var restartAfter: Int?
        public var smoothing: Smoothing
        /// A floor that decays never go below; nil means none.
        public var minimumLR: Double?
        /// `.abs` (the published rule): the response is compared with `threshold` in loss units. `.rel`: with
        /// `threshold` x the current smoothed loss, so that scaling the loss (the margin scale s, say) scales
        /// both sides and leaves the decisions unchanged. nil means `.abs`.
        public var thresholdMode: ReduceLROnPlateau.ThresholdMode?
        /// K: once the LR has been decayed K times, the next decision (the loss stayed on a plateau for the
        /// patience at the last LR) asks the trainer to stop instead of decaying (`stopRequested`); nil: never.
        public var stopAfterDecays: Int?
        /// After each epoch boundary (`noteEpochBoundary`), this many losses leave the plateau count as it is
        /// (neither counted nor reset): the drop a repeated epoch brings is not read as progress. nil: off.
        public var boundaryHoldSteps: Int?

        public init(
            windowSteps: Int, threshold: Double = 0.06, patienceSteps: Int? = nil, decayFactor: Double = 2,
            restartAfter: Int? = 3, smoothing: Smoothing = .box, minimumLR: Double? = nil,
            thresholdMode: ReduceLROnPlateau.ThresholdMode? = nil, stopAfterDecays: Int? = nil,
            boundaryHoldSteps: Int? = nil
        ) {
            self.boundaryHoldSteps = boundaryHoldSteps
            self.thresholdMode = thresholdMode
            self.stopAfterDecays = stopAfterDecays
            self.windowSteps = windowSteps
            self.threshold = threshold
            self.patienceSteps = patienceSteps
            self.decayFactor = decayFactor
            self.restartAfter = restartAfter
            self.smoothing = smoothing
            self.minimumLR = minimumLR
        }

        /// The published window for a run of `totalSteps` steps: floor(0.015 * totalSteps), at least 2
        /// (the other published choice is a fixed 4000).
        public static func publishedWindowSteps(totalSteps: Int) -> Int {
            max(2, Int((0.015 * Double(totalSteps)).rounded(.down)))
        }

        /// P with its default applied.
        public var resolvedPatienceSteps: Int { patienceSteps ?? 2 * windowSteps }

        func validate(baseLR: Double) throws {
            try ParameterChecks.positiveFinite(baseLR, "baseLR")
            try ParameterChecks.atLeast(windowSteps, 2, "windowSteps")
            try ParameterChecks.finite(threshold, "threshold")
            if let patienceSteps { try ParameterChecks.atLeast(patienceSteps, 0, "patienceSteps") }
            try ParameterChecks.decayFactor(decayFactor, "decayFactor")
            if let restartAfter { try ParameterChecks.atLeast(restartAfter, 1, "restartAfter") }
            if case .exponential(let alpha) = smoothing { try ParameterChecks.unitWeight(alpha, "smoothing.alpha") }
            if let minimumLR { try ParameterChecks.floor(minimumLR, baseLR: baseLR, "minimumLR") }
            if let stopAfterDecays { try ParameterChecks.atLeast(stopAfterDecays, 0, "stopAfterDecays") }
            if let boundaryHoldSteps { try ParameterChecks.atLeast(boundaryHoldSteps, 0, "boundaryHoldSteps") }
        }
    }

    /// All state, shared between copies until one of them steps (copy on write): moving an `MHLR` (into an
    /// `AnyScheduler`, a checkpoint struct) moves one reference, not two windows of losses.
    /// `nonisolated(unsafe)`: see CopyOnWriteBox; a shared box is only read.
    private nonisolated(unsafe) var box: CopyOnWriteBox<HaarDetector>

    public init(baseLR: Double, configuration: Configuration) throws {
        try configuration.validate(baseLR: baseLR)
        box = .make(HaarDetector(baseLR: baseLR, configuration: configuration))
    }

    public var baseLR: Double { box.read { $0.baseLR } }
    public var configuration: Configuration { box.read { $0.configuration } }
    public var learningRate: Double { box.read { $0.learningRate } }
    public var stepsFed: Int { box.read { $0.stepsFed } }
    public var nonFiniteLosses: Int { box.read { $0.nonFiniteLosses } }
    /// The latest smoothed loss (A_i or E_i); nil until defined.
    public var smoothedLoss: Double? { box.read { $0.smoothedLoss } }
    /// The latest Haar response H_i; nil until defined.
    public var haarResponse: Double? { box.read { $0.haarResponse } }
    /// Consecutive responses below the threshold since the last decay ("count" in mhlr.md).
    public var stepsBelowThreshold: Int { box.read { $0.stepsBelowThreshold } }
    /// Decays since the plateau began ("w" in mhlr.md); reset by a restart or a response above threshold.
    public var decaysInPlateau: Int { box.read { $0.decaysInPlateau } }
    /// Decays over the whole run (restarts not counted).
    public var decays: Int { box.read { $0.decays } }
    /// The step (1-based) after which the detector asked to stop (`Configuration.stopAfterDecays`); nil until
    /// then. From then on the LR and the detector stay as they were.
    public var stopStep: Int? { box.read { $0.stopStep } }
    public var stopRequested: Bool { stopStep != nil }

    public mutating func step(loss: Double) -> Double {
        if !isKnownUniquelyReferenced(&box) { box = .make(box.read { copy $0 }) }
        return box.mutate { $0.step(loss: loss) }
    }

    public mutating func noteEpochBoundary() {
        guard configuration.boundaryHoldSteps != nil else { return }
        if !isKnownUniquelyReferenced(&box) { box = .make(box.read { copy $0 }) }
        box.mutate { $0.noteEpochBoundary() }
    }

    public static func == (lhs: MHLR, rhs: MHLR) -> Bool {
        lhs.box === rhs.box || lhs.box.read { left in rhs.box.read { right in left == right } }
    }
}

extension MHLR {
    /// Decodes a saved state and checks it fits its configuration, so a damaged checkpoint throws.
    public init(from decoder: Decoder) throws {
        box = .make(try HaarDetector(from: decoder))
    }

    public func encode(to encoder: Encoder) throws {
        try box.read { try $0.encode(to: encoder) }
    }
}
