import Foundation
@testable import MHLR

/// MHLR written straight from the formulas of shared/reference/mhlr.md section 1, O(m) per step:
/// keeps every loss and every smoothed value, and re-sums both windows from scratch each step.
/// The reference the O(1) `MHLR` must agree with decision for decision.
struct NaiveMHLR {
    let configuration: MHLR.Configuration
    private(set) var learningRate: Double
    private(set) var losses: [Double] = []
    /// S_k for every k (nil where not defined).
    private(set) var smoothed: [Double?] = []
    /// The same with 0 for undefined entries (never read by the sums), for fast reading.
    private var definedSmoothed: [Double] = []
    private(set) var haarResponse: Double?
    /// "count" and "w" of mhlr.md.
    private(set) var count = 0
    private(set) var decaysInPlateau = 0
    /// Decisions taken so far.
    private(set) var decays = 0
    private(set) var restarts = 0

    init(baseLR: Double, configuration: MHLR.Configuration) {
        self.configuration = configuration
        learningRate = baseLR
    }

    /// values[start] + ... + values[end - 1], added left to right (through a raw pointer: this is the
    /// naive O(m) sum, but array indexing in a debug build would make it too slow to run 10^6 times).
    static func sum(_ values: [Double], from start: Int, to end: Int) -> Double {
        precondition(start >= 0 && end <= values.count)
        return values.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            var sum = 0.0
            var k = start
            while k < end {
                sum += base[k]
                k += 1
            }
            return sum
        }
    }

    mutating func step(loss: Double) -> Double {
        guard loss.isFinite else { return learningRate }
        let m = configuration.windowSteps
        let half = m / 2
        let i = losses.count
        losses.append(loss)
        switch configuration.smoothing {
        case .box:
            // (1) A_i = (L_{i-m+1} + ... + L_i) / m, for i >= m.
            if i >= m {
                let sum = Self.sum(losses, from: i - m + 1, to: i + 1)
                smoothed.append(sum / Double(m))
            } else {
                smoothed.append(nil)
            }
        case .exponential(let alpha):
            // E_0 = L_0; E_i = alpha L_i + (1 - alpha) E_{i-1}.
            let previous = smoothed.last.flatMap { $0 }
            smoothed.append(previous.map { alpha * loss + (1 - alpha) * $0 } ?? loss)
        }
        definedSmoothed.append(smoothed[i] ?? 0)
        // (2) H_i over S_{i-m} ... S_{i-1}, for i >= 2m.
        guard i >= 2 * m else { return learningRate }
        let older = Self.sum(definedSmoothed, from: i - m, to: i - m + half)
        let newer = Self.sum(definedSmoothed, from: i - m + half, to: i)
        let response = (older - newer) / Double(m)
        haarResponse = response
        // (3) The decision.
        if response < configuration.threshold {
            count += 1
            if count > configuration.resolvedPatienceSteps {
                count = 0
                decaysInPlateau += 1
                let delta = configuration.decayFactor
                if let restartAfter = configuration.restartAfter, decaysInPlateau > restartAfter {
                    learningRate *= delta * delta
                    decaysInPlateau = 0
                    restarts += 1
                } else {
                    learningRate = max(learningRate / delta, configuration.minimumLR ?? 0)
                    decays += 1
                }
            }
        } else {
            count = 0
            decaysInPlateau = 0
        }
        return learningRate
    }
}

/// A deterministic noisy training-loss-like signal: segments of 3m to 12m steps, each an exponential fall
/// (time constant 0.8m to 6m, amplitude 0.5 to 5) onto a level, plus uniform noise of +-0.3. With
/// lambda = 0.06 the Haar response crosses the threshold many times per segment, so MHLR both decays
/// and restarts often.
struct PlateauSignal {
    private var state: UInt64
    private let windowSteps: Int
    private var stepInSegment = 0
    private var segmentLength = 0
    private var level = 2.0
    private var amplitude = 0.0
    private var timeConstant = 1.0

    init(windowSteps: Int, seed: UInt64) {
        self.windowSteps = windowSteps
        state = seed | 1
    }

    /// Uniform in [0, 1) (xorshift64).
    mutating func uniform() -> Double {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Double(state >> 11) / Double(1 << 53)
    }

    mutating func next() -> Double {
        if stepInSegment == segmentLength {
            stepInSegment = 0
            let m = Double(windowSteps)
            segmentLength = Int(m * (3 + 9 * uniform()))
            amplitude = 0.5 + 4.5 * uniform()
            timeConstant = m * (0.8 + 5.2 * uniform())
            level = 1 + 3 * uniform()
        }
        stepInSegment += 1
        return level + amplitude * exp(-Double(stepInSegment) / timeConstant) + 0.6 * (uniform() - 0.5)
    }
}
