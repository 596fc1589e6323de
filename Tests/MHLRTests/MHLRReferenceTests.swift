import XCTest
@testable import MHLR

/// The O(1) MHLR against `NaiveMHLR`, the O(m) recomputation straight from mhlr.md.
///
/// The naive version costs O(m) per step; in a debug build that is about 10 s for 10^6 steps at m = 64 and
/// far too slow at m = 4000 (~8000 additions per step). So the 10^6-step runs use m = 64 (box) and m = 63
/// (exponential, odd window), and the published window m = 4000 gets a 32,000-step run (8 m, with patience 1000 so
/// that several decays happen). The O(1) code does not depend on m except through the ring-buffer sizes.
final class MHLRReferenceTests: XCTestCase {
    struct Agreement {
        /// Decisions of the naive version.
        var decays = 0
        var restarts = 0
        /// Decays that lowered the LR (not those on the floor or after underflow).
        var lrDecreases = 0
        /// Largest |H_fast - H_naive| seen.
        var largestResponseDifference = 0.0
        /// Smallest |H - lambda| seen: how close the closest call was.
        var closestCall = Double.infinity
        var finalLR = 0.0
    }

    /// Feeds both versions the same signal; fails at the first step whose LR (bit for bit) or decision
    /// counters differ. The counters are compared too because the LR alone stops telling after it
    /// underflows or sits on a floor; count and w change with every single decision.
    func agree(configuration: MHLR.Configuration, steps: Int, seed: UInt64,
               file: StaticString = #filePath, line: UInt = #line) throws -> Agreement {
        var fast = try MHLR(baseLR: 0.02, configuration: configuration)
        var naive = NaiveMHLR(baseLR: 0.02, configuration: configuration)
        var signal = PlateauSignal(windowSteps: configuration.windowSteps, seed: seed)
        var result = Agreement()
        for step in 1...steps {
            let loss = signal.next()
            let before = fast.learningRate
            let fastLR = fast.step(loss: loss)
            let naiveLR = naive.step(loss: loss)
            if fastLR != naiveLR || fast.stepsBelowThreshold != naive.count
                || fast.decaysInPlateau != naive.decaysInPlateau {
                XCTFail("step \(step): O(1) LR \(fastLR), count \(fast.stepsBelowThreshold), w \(fast.decaysInPlateau) != naive LR \(naiveLR), count \(naive.count), w \(naive.decaysInPlateau) (H \(String(describing: fast.haarResponse)) vs \(String(describing: naive.haarResponse)))",
                        file: file, line: line)
                return result
            }
            if fastLR < before { result.lrDecreases += 1 }
            if let h = fast.haarResponse, let reference = naive.haarResponse {
                result.largestResponseDifference = max(result.largestResponseDifference, abs(h - reference))
                result.closestCall = min(result.closestCall, abs(reference - configuration.threshold))
            } else {
                XCTAssertEqual(fast.haarResponse == nil, naive.haarResponse == nil, "step \(step)", file: file, line: line)
            }
        }
        result.finalLR = fast.learningRate
        result.decays = naive.decays
        result.restarts = naive.restarts
        return result
    }

    // Bound on |H_fast - H_naive|: the naive plain sums of m values of size <= ~10 carry at most
    // m * eps * 10 absolute error (1.4e-13 at m = 64, 9e-12 at m = 4000); the compensated sums far less.
    func testBoxMillionStepsMatchNaive() throws {
        let result = try agree(configuration: .init(windowSteps: 64), steps: 1_000_000, seed: 1)
        print("box m=64: \(result)")
        XCTAssertGreaterThan(result.decays, 1_000)
        XCTAssertGreaterThan(result.restarts, 100)
        XCTAssertLessThan(result.largestResponseDifference, 1.5e-13)
    }

    func testExponentialOddWindowMillionStepsMatchNaive() throws {
        let configuration = MHLR.Configuration(windowSteps: 63, threshold: 0.02, smoothing: .exponential(alpha: 0.02))
        let result = try agree(configuration: configuration, steps: 1_000_000, seed: 2)
        print("exponential m=63: \(result)")
        XCTAssertGreaterThan(result.decays, 1_000)
        XCTAssertGreaterThan(result.restarts, 100)
        XCTAssertLessThan(result.largestResponseDifference, 1.5e-13)
    }

    func testPublishedWindowMatchesNaive() throws {
        // P = 1000 instead of 2m = 8000, so that 32,000 steps (under 4 s against the naive version in debug)
        // hold several decays.
        let result = try agree(configuration: .init(windowSteps: 4000, patienceSteps: 1000), steps: 32_000, seed: 3)
        print("box m=4000: \(result)")
        XCTAssertGreaterThan(result.decays, 3)
        XCTAssertLessThan(result.largestResponseDifference, 9e-12)
    }

    func testFloorAndNoRestartMatchNaive() throws {
        let configuration = MHLR.Configuration(
            windowSteps: 32, threshold: 0.08, patienceSteps: 10, decayFactor: 3, restartAfter: nil, minimumLR: 1e-4)
        let result = try agree(configuration: configuration, steps: 200_000, seed: 4)
        // 0.02 / 3^4 = 2.5e-4 > 1e-4 but 0.02 / 3^5 = 8.2e-5 < 1e-4: the 5th decay lands on the floor, and later
        // decisions leave the LR there (no restarts to lift it).
        XCTAssertGreaterThan(result.decays, 10)
        XCTAssertEqual(result.lrDecreases, 5)
        XCTAssertEqual(result.restarts, 0)
        XCTAssertEqual(result.finalLR, 1e-4)
    }

    /// Why the sums are compensated: a finite loss spike of 1e12 enters and later leaves the window. A plain
    /// running sum would keep an error of about 1e12 * eps = 1e-4 for ever after (all low bits lost while the
    /// spike was in); the compensated sums return to agreeing with a fresh summation to rounding level.
    func testSumsRecoverAfterAHugeSpike() throws {
        let configuration = MHLR.Configuration(windowSteps: 8)
        var fast = try MHLR(baseLR: 0.1, configuration: configuration)
        var naive = NaiveMHLR(baseLR: 0.1, configuration: configuration)
        var signal = PlateauSignal(windowSteps: 8, seed: 5)
        for step in 0..<400 {
            let loss = step == 30 ? 1e12 : signal.next()
            _ = fast.step(loss: loss)
            _ = naive.step(loss: loss)
            // From step 30 + 2m on, the spike has left both the loss window and the Haar window.
            guard step >= 46 else { continue }
            let average = try XCTUnwrap(naive.smoothed[step] ?? nil)
            // Fresh sums of 8 values near 1..7 carry under 8 eps relative error; the same bound for both.
            XCTAssertEqual(try XCTUnwrap(fast.smoothedLoss), average, accuracy: 8 * Double.ulpOfOne * average)
            XCTAssertEqual(try XCTUnwrap(fast.haarResponse), try XCTUnwrap(naive.haarResponse), accuracy: 1e-14)
        }
    }
}
