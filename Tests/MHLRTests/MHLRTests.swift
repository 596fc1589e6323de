import XCTest
import Foundation
@testable import MHLR

/// MHLR's step semantics on tiny hand-computed cases (mhlr.md section 1).
final class MHLRTests: XCTestCase {
    /// Feeds `losses`; returns (smoothedLoss, haarResponse) after each one.
    func trace(_ configuration: MHLR.Configuration, _ losses: [Double]) throws -> [(Double?, Double?)] {
        var scheduler = try MHLR(baseLR: 0.1, configuration: configuration)
        return losses.map { loss in
            _ = scheduler.step(loss: loss)
            return (scheduler.smoothedLoss, scheduler.haarResponse)
        }
    }

    /// The LR decisions (step, new LR) of `configuration` on `losses`.
    func decisions(_ configuration: MHLR.Configuration, _ losses: [Double]) throws -> [LearningRateEvent] {
        var recorder = ScheduleRecorder(try MHLR(baseLR: 0.1, configuration: configuration))
        for loss in losses { recorder.step(loss: loss) }
        return recorder.events
    }

    /// threshold_mode rel compares H with threshold x A, so a loss series scaled by 10 or 0.1 (as a margin scale
    /// or a loss convention would scale it) gives the same decisions; abs, in loss units, does not.
    func testRelativeThresholdIsScaleFree() throws {
        // A loss that falls from 30 towards 10 with +-0.3 of deterministic noise (a 64-bit LCG).
        var state: UInt64 = 2404
        let losses = (0..<3000).map { step -> Double in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let noise = (Double(state >> 11) / Double(1 << 53) - 0.5) * 0.6
            return 10 + 20 * exp(-Double(step) / 400) + noise
        }
        let relative = MHLR.Configuration(windowSteps: 40, threshold: 0.002, thresholdMode: .rel)
        let absolute = MHLR.Configuration(windowSteps: 40, threshold: 0.06)
        let original = try decisions(relative, losses)
        XCTAssertGreaterThanOrEqual(original.count, 2, "the series must make the detector act")
        for factor in [10.0, 0.1] {
            XCTAssertEqual(try decisions(relative, losses.map { $0 * factor }), original, "rel, x\(factor)")
            XCTAssertNotEqual(try decisions(absolute, losses.map { $0 * factor }), try decisions(absolute, losses),
                              "abs, x\(factor)")
        }
    }

    func testEvenWindowByHand() throws {
        // m = 2, half = 1. A_i = (L_{i-1} + L_i) / 2 from i = 2 (not i = 1): A_2 = 5, A_3 = 3, A_4 = A_5 = A_6 = 2.
        // H_i = (A_{i-2} - A_{i-1}) / 2 from i = 4: H_4 = (5 - 3) / 2 = 1, H_5 = (3 - 2) / 2 = 0.5, H_6 = 0.
        let steps = try trace(.init(windowSteps: 2), [8, 6, 4, 2, 2, 2, 2])
        XCTAssertEqual(steps.map(\.0), [nil, nil, 5, 3, 2, 2, 2])
        XCTAssertEqual(steps.map(\.1), [nil, nil, nil, nil, 1, 0.5, 0])
    }

    func testOddWindowByHand() throws {
        // m = 3, half = 1: the older half is one average, the newer half two.
        // A_3 = (6 + 3 + 0) / 3 = 3, A_4 = (3 + 0 + 0) / 3 = 1, A_5 = A_6 = 0.
        // H_6 = (A_3 - A_4 - A_5) / 3 = 2 / 3.
        let steps = try trace(.init(windowSteps: 3), [9, 6, 3, 0, 0, 0, 0])
        XCTAssertEqual(steps.map(\.0), [nil, nil, nil, 3, 1, 0, 0])
        XCTAssertNil(steps[5].1)
        XCTAssertEqual(try XCTUnwrap(steps[6].1), 2.0 / 3, accuracy: 1e-15)
    }

    func testExponentialSmoothingStartsWithFirstLoss() throws {
        // E_0 = L_0 = 4; E_1 = 0.5 * 2 + 0.5 * 4 = 3; E_2 = 0.5 * 0 + 0.5 * 3 = 1.5; E_3 = 0.75, E_4 = 0.375.
        // H_4 (first, i = 2m) = (E_2 - E_3) / 2 = 0.375.
        let steps = try trace(.init(windowSteps: 2, smoothing: .exponential(alpha: 0.5)), [4, 2, 0, 0, 0])
        XCTAssertEqual(steps.map(\.0), [4, 3, 1.5, 0.75, 0.375])
        XCTAssertEqual(steps.map(\.1), [nil, nil, nil, nil, 0.375])
    }

    func testConstantLossDecaysThenRestarts() throws {
        // m = 4, P = 2m = 8, R = 3: H_i = 0 < 0.06 from i = 2m = 8; the count exceeds P at i = 8 + 8 = 16, so
        // the first decay applies from step i + 2 = 18; then every P + 1 = 9 steps (27, 36); the 4th decision
        // (w = 4 > R) is a restart, LR * 2^2, from step 45.
        var recorder = ScheduleRecorder(try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 4)))
        for _ in 1...50 { recorder.step(loss: 1) }
        XCTAssertEqual(recorder.events, [
            LearningRateEvent(step: 18, oldLR: 0.1, newLR: 0.05),
            LearningRateEvent(step: 27, oldLR: 0.05, newLR: 0.025),
            LearningRateEvent(step: 36, oldLR: 0.025, newLR: 0.0125),
            LearningRateEvent(step: 45, oldLR: 0.0125, newLR: 0.05),
        ])
        XCTAssertEqual(recorder.events.map(\.change), [.down, .down, .down, .up])
    }

    func testFallingLossResetsThePlateauCount() throws {
        // A loss falling by 1 per step has A falling by 1 per step and H = (half * half) / m = 1 >= 0.06 for
        // m = 2 (H_i = (A_{i-2} - A_{i-1}) / 2 = 0.5), so no decision ever fires.
        var scheduler = try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 2, patienceSteps: 0))
        for step in 0..<100 { _ = scheduler.step(loss: 1000 - Double(step)) }
        XCTAssertEqual(scheduler.haarResponse, 0.5)
        XCTAssertEqual(scheduler.learningRate, 0.1)
        XCTAssertEqual(scheduler.stepsBelowThreshold, 0)
    }

    func testFloorStopsDecays() throws {
        // P = 0: every step from i = 2m = 4 decays; 0.1 -> 0.05 -> floor 0.03, then unchanged (restarts off).
        var recorder = ScheduleRecorder(try MHLR(
            baseLR: 0.1, configuration: .init(windowSteps: 2, patienceSteps: 0, restartAfter: nil, minimumLR: 0.03)))
        for _ in 1...20 { recorder.step(loss: 1) }
        XCTAssertEqual(recorder.events, [
            LearningRateEvent(step: 6, oldLR: 0.1, newLR: 0.05),
            LearningRateEvent(step: 7, oldLR: 0.05, newLR: 0.03),
        ])
    }

    func testDefaultPatienceIsTwoWindows() throws {
        XCTAssertEqual(MHLR.Configuration(windowSteps: 4000).resolvedPatienceSteps, 8000)
        XCTAssertEqual(MHLR.Configuration(windowSteps: 10, patienceSteps: 3).resolvedPatienceSteps, 3)
        // floor(0.015 * 100_000) = 1500; floor(0.015 * 10) = 0, raised to the minimum window 2.
        XCTAssertEqual(MHLR.Configuration.publishedWindowSteps(totalSteps: 100_000), 1500)
        XCTAssertEqual(MHLR.Configuration.publishedWindowSteps(totalSteps: 10), 2)
    }

    /// MHLR keeps its state in a copy-on-write box: copies must still behave as independent values.
    func testCopiesAreIndependent() throws {
        var original = try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 2, patienceSteps: 0))
        for _ in 1...4 { _ = original.step(loss: 1) }
        let snapshot = original
        var copy = original
        for _ in 1...3 { _ = copy.step(loss: 1) }
        XCTAssertEqual(original, snapshot)
        XCTAssertEqual(original.stepsFed, 4)
        XCTAssertEqual(copy.stepsFed, 7)
        XCTAssertNotEqual(copy, original)
        XCTAssertEqual(original.learningRate, 0.1)
        XCTAssertLessThan(copy.learningRate, 0.1)
    }
}
