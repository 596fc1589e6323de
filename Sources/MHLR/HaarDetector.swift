/// The state and rules of MHLR (mhlr.md section 1); `MHLR` holds one behind a copy-on-write box.
/// Indices are 0-based over the finite losses fed.
struct HaarDetector: Equatable, Sendable {
    let baseLR: Double
    let configuration: MHLR.Configuration
    private(set) var learningRate: Double
    private(set) var stepsFed = 0
    private(set) var nonFiniteLosses = 0
    /// The latest smoothed loss (A_i or E_i); nil until defined.
    private(set) var smoothedLoss: Double?
    /// The latest Haar response H_i; nil until defined.
    private(set) var haarResponse: Double?
    /// Consecutive responses below the threshold since the last decay ("count" in mhlr.md).
    private(set) var stepsBelowThreshold = 0
    /// Decays since the plateau began ("w" in mhlr.md); reset by a restart or a response above threshold.
    private(set) var decaysInPlateau = 0
    /// Decays over the whole run (restarts not counted).
    private(set) var decays = 0
    /// Set once the run should stop (`stopAfterDecays`): the step after which the detector asked.
    private(set) var stopStep: Int?
    /// Losses still to feed before responses count again, after an epoch boundary.
    private(set) var holdRemaining = 0

    /// i: how many finite losses have been fed.
    private var finiteLosses = 0
    /// The last m raw losses and their sum (box smoothing only).
    private var lossWindow: RingBuffer?
    private var lossSum = CompensatedSum()
    /// S_{i-m} ... S_{i-1}, split into the older floor(m/2) and the newer rest.
    private var smoothedWindow: RingBuffer
    private var olderHalfSum = CompensatedSum()
    private var newerHalfSum = CompensatedSum()

    init(baseLR: Double, configuration: MHLR.Configuration) {
        self.baseLR = baseLR
        self.configuration = configuration
        learningRate = baseLR
        lossWindow = configuration.smoothing == .box ? RingBuffer(capacity: configuration.windowSteps) : nil
        smoothedWindow = RingBuffer(capacity: configuration.windowSteps)
    }

    mutating func step(loss: Double) -> Double {
        stepsFed += 1
        guard stopStep == nil else { return learningRate }
        guard loss.isFinite else {
            nonFiniteLosses += 1
            return learningRate
        }
        let index = finiteLosses
        finiteLosses += 1
        defer { if holdRemaining > 0 { holdRemaining -= 1 } }
        let windowSteps = configuration.windowSteps

        // S_index, when defined; only S_k with k >= m enter the Haar window, for both smoothings,
        // so that H starts at i = 2m either way.
        let smoothed: Double?
        switch configuration.smoothing {
        case .box:
            let evicted = lossWindow!.push(loss)
            lossSum.add(loss)
            if let evicted {
                lossSum.add(-evicted)
                let average = lossSum.value / Double(windowSteps)
                smoothedLoss = average
                smoothed = average
            } else {
                smoothed = nil
            }
        case .exponential(let alpha):
            let average = smoothedLoss.map { alpha * loss + (1 - alpha) * $0 } ?? loss
            smoothedLoss = average
            smoothed = index >= windowSteps ? average : nil
        }
        guard let smoothed else { return learningRate }

        let half = windowSteps / 2
        if smoothedWindow.isFull {
            let response = ((olderHalfSum.high - newerHalfSum.high) + (olderHalfSum.low - newerHalfSum.low))
                / Double(windowSteps)
            haarResponse = response
            if holdRemaining == 0 { decide(response: response) }
            // Slide: S_{i-m} leaves the older half, S_{i-m+half} moves to it from the newer half, S_i joins.
            let crossing = smoothedWindow[half]
            let leaving = smoothedWindow.push(smoothed)!
            olderHalfSum.slide(adding: crossing, removing: leaving)
            newerHalfSum.slide(adding: smoothed, removing: crossing)
        } else {
            if smoothedWindow.count < half { olderHalfSum.add(smoothed) } else { newerHalfSum.add(smoothed) }
            smoothedWindow.push(smoothed)
        }
        return learningRate
    }

    mutating func noteEpochBoundary() {
        holdRemaining = configuration.boundaryHoldSteps ?? 0
    }

    /// Step 3 of mhlr.md section 1.
    @inline(__always)
    private mutating func decide(response: Double) {
        let threshold = configuration.thresholdMode == .rel ? configuration.threshold * (smoothedLoss ?? 0) : configuration.threshold
        guard response < threshold else {
            stepsBelowThreshold = 0
            decaysInPlateau = 0
            return
        }
        stepsBelowThreshold += 1
        guard stepsBelowThreshold > configuration.resolvedPatienceSteps else { return }
        if let stopAfterDecays = configuration.stopAfterDecays, decays >= stopAfterDecays {
            stopStep = stepsFed
            return
        }
        stepsBelowThreshold = 0
        decaysInPlateau += 1
        let decayFactor = configuration.decayFactor
        if let restartAfter = configuration.restartAfter, decaysInPlateau > restartAfter {
            learningRate *= decayFactor * decayFactor
            decaysInPlateau = 0
        } else {
            learningRate = max(learningRate / decayFactor, configuration.minimumLR ?? 0)
            decays += 1
        }
    }
}

extension HaarDetector: Codable {
    private enum CodingKeys: String, CodingKey {
        case baseLR, configuration, learningRate, stepsFed, nonFiniteLosses, smoothedLoss, haarResponse
        case stepsBelowThreshold, decaysInPlateau, decays, stopStep, holdRemaining, finiteLosses, lossWindow, lossSum, smoothedWindow
        case olderHalfSum, newerHalfSum
    }

    /// Decodes a saved state and checks it fits its configuration, so a damaged checkpoint throws.
    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        baseLR = try container.decode(Double.self, forKey: .baseLR)
        configuration = try container.decode(MHLR.Configuration.self, forKey: .configuration)
        try configuration.validate(baseLR: baseLR)
        learningRate = try container.decode(Double.self, forKey: .learningRate)
        stepsFed = try container.decode(Int.self, forKey: .stepsFed)
        nonFiniteLosses = try container.decode(Int.self, forKey: .nonFiniteLosses)
        smoothedLoss = try container.decodeIfPresent(Double.self, forKey: .smoothedLoss)
        haarResponse = try container.decodeIfPresent(Double.self, forKey: .haarResponse)
        stepsBelowThreshold = try container.decode(Int.self, forKey: .stepsBelowThreshold)
        decaysInPlateau = try container.decode(Int.self, forKey: .decaysInPlateau)
        // Absent from states saved before auto-stop existed (such runs never stop early).
        decays = try container.decodeIfPresent(Int.self, forKey: .decays) ?? 0
        stopStep = try container.decodeIfPresent(Int.self, forKey: .stopStep)
        holdRemaining = try container.decodeIfPresent(Int.self, forKey: .holdRemaining) ?? 0
        finiteLosses = try container.decode(Int.self, forKey: .finiteLosses)
        lossWindow = try container.decodeIfPresent(RingBuffer.self, forKey: .lossWindow)
        lossSum = try container.decode(CompensatedSum.self, forKey: .lossSum)
        smoothedWindow = try container.decode(RingBuffer.self, forKey: .smoothedWindow)
        olderHalfSum = try container.decode(CompensatedSum.self, forKey: .olderHalfSum)
        newerHalfSum = try container.decode(CompensatedSum.self, forKey: .newerHalfSum)
        let windowSteps = configuration.windowSteps
        let boxFits = (configuration.smoothing == .box) == (lossWindow?.capacity == windowSteps)
        guard boxFits, smoothedWindow.capacity == windowSteps, learningRate.isFinite, learningRate > 0 else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "MHLR state does not fit its configuration (window \(windowSteps))"))
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(baseLR, forKey: .baseLR)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(learningRate, forKey: .learningRate)
        try container.encode(stepsFed, forKey: .stepsFed)
        try container.encode(nonFiniteLosses, forKey: .nonFiniteLosses)
        try container.encodeIfPresent(smoothedLoss, forKey: .smoothedLoss)
        try container.encodeIfPresent(haarResponse, forKey: .haarResponse)
        try container.encode(stepsBelowThreshold, forKey: .stepsBelowThreshold)
        try container.encode(decaysInPlateau, forKey: .decaysInPlateau)
        try container.encode(decays, forKey: .decays)
        try container.encodeIfPresent(stopStep, forKey: .stopStep)
        try container.encode(holdRemaining, forKey: .holdRemaining)
        try container.encode(finiteLosses, forKey: .finiteLosses)
        try container.encodeIfPresent(lossWindow, forKey: .lossWindow)
        try container.encode(lossSum, forKey: .lossSum)
        try container.encode(smoothedWindow, forKey: .smoothedWindow)
        try container.encode(olderHalfSum, forKey: .olderHalfSum)
        try container.encode(newerHalfSum, forKey: .newerHalfSum)
    }
}
