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

/// `stop_after_decays`: training until converged.
final class MHLRStopTests: XCTestCase {
    func testStopsAtTheFirstPlateauAfterKDecays() throws {
        // The constant loss of testConstantLossDecaysThenRestarts: decisions after steps 17, 26 and 35 (decays from
        // 18 and 27, then the third); with K = 2 the third decision is the stop instead, and nothing changes after it.
        var recorder = ScheduleRecorder(try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 4, stopAfterDecays: 2)))
        for _ in 1...34 { recorder.step(loss: 1) }
        XCTAssertFalse(recorder.scheduler.stopRequested)
        recorder.step(loss: 1)
        guard case .mhlr(let stopped) = AnyScheduler.mhlr(recorder.scheduler) else { return XCTFail() }
        XCTAssertEqual(stopped.stopStep, 35)
        XCTAssertTrue(AnyScheduler.mhlr(stopped).stopRequested)
        for _ in 1...30 { recorder.step(loss: 1) }
        XCTAssertEqual(recorder.events, [
            LearningRateEvent(step: 18, oldLR: 0.1, newLR: 0.05),
            LearningRateEvent(step: 27, oldLR: 0.05, newLR: 0.025),
        ])
        XCTAssertEqual(recorder.scheduler.decays, 2)
        XCTAssertEqual(recorder.scheduler.stopStep, 35)
        XCTAssertEqual(recorder.scheduler.learningRate, 0.025)
        // The state survives a checkpoint; K = 0 stops at the first plateau without decaying.
        let decoded = try JSONDecoder().decode(MHLR.self, from: JSONEncoder().encode(recorder.scheduler))
        XCTAssertEqual(decoded.stopStep, 35)
        var immediate = try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 4, stopAfterDecays: 0))
        for _ in 1...17 { _ = immediate.step(loss: 1) }
        XCTAssertEqual(immediate.stopStep, 17)
        XCTAssertEqual(immediate.learningRate, 0.1)
        XCTAssertFalse(AnyScheduler.mhlr(try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 4))).stopRequested)
    }

    func testEpochParametersResolveToSteps() throws {
        var spec = SchedulerSpec(kind: .mhlr)
        spec.windowEpochs = 0.25
        spec.patienceEpochs = 0.5
        spec.stopAfterDecays = 3
        XCTAssertThrowsError(try spec.makeScheduler(defaultTotalSteps: 1000)) {
            XCTAssertTrue("\($0)".contains("window_epochs"), "\($0)")
        }
        guard case .mhlr(let mhlr) = try spec.resolvingEpochs(stepsPerEpoch: 62).makeScheduler(defaultTotalSteps: 1000) else {
            return XCTFail("not MHLR")
        }
        // 0.25 x 62 = 15.5 -> 16 steps, 0.5 x 62 = 31.
        XCTAssertEqual(mhlr.configuration.windowSteps, 16)
        XCTAssertEqual(mhlr.configuration.patienceSteps, 31)
        XCTAssertEqual(mhlr.configuration.stopAfterDecays, 3)
        spec.window = 10
        XCTAssertThrowsError(try spec.resolvingEpochs(stepsPerEpoch: 62))
        var multistep = SchedulerSpec(kind: .multistep)
        multistep.milestoneEpochs = [1, 2.5]
        XCTAssertEqual(try multistep.resolvingEpochs(stepsPerEpoch: 10).milestones, [10, 25])
    }
}

/// `boundary_hold`: responses after an epoch boundary neither count towards a plateau nor reset it.
final class MHLRBoundaryHoldTests: XCTestCase {
    func decayStep(hold: Int?, boundaryBefore boundaryStep: Int?) throws -> Int? {
        var recorder = ScheduleRecorder(try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 4, boundaryHoldSteps: hold)))
        for step in 1...40 {
            if step == boundaryStep { recorder.noteEpochBoundary() }
            recorder.step(loss: 1)
        }
        return recorder.events.first?.step
    }

    func testHoldPausesThePlateauCount() throws {
        // Constant loss, m = 4, P = 8: the count runs from step 9 and exceeds P at step 17, so the LR changes from
        // step 18. A boundary before step 15 with a hold of 5 pauses the count over steps 15 ... 19 (it stands at
        // 6 after step 14): it reaches 9 at step 22 and the LR changes from step 23.
        XCTAssertEqual(try decayStep(hold: nil, boundaryBefore: 15), 18)
        XCTAssertEqual(try decayStep(hold: 5, boundaryBefore: nil), 18)
        XCTAssertEqual(try decayStep(hold: 5, boundaryBefore: 15), 23)
        // A boundary before the response exists (step 3) holds nothing that counts.
        XCTAssertEqual(try decayStep(hold: 5, boundaryBefore: 3), 18)
    }

    func testLogEpochsMarkTheBoundaries() throws {
        let csv = "step,epoch,loss\n1,0,3\n2,0,2\n3,1,2\n4,1,1\n5,2,1\n"
        let log = try TrainingLog(bytes: Data(csv.utf8), source: "m.csv")
        var boundaries: [Int] = [], steps: [Int] = []
        log.forEachStep(startingEpoch: { boundaries.append($0) }) { step, _ in steps.append(step) }
        XCTAssertEqual(boundaries, [3, 5])
        XCTAssertEqual(steps, [1, 2, 3, 4, 5])
        let arcface = """
            Training: x-Speed 1.00 samples/sec   Loss 3.0000   LearningRate 0.100000   Epoch: 0   Global Step: 10   Required: 0 hours
            Training: x-Speed 1.00 samples/sec   Loss 2.0000   LearningRate 0.100000   Epoch: 1   Global Step: 20   Required: 0 hours
            """
        boundaries = []
        try TrainingLog(bytes: Data(arcface.utf8), source: "training.log").forEachStep(startingEpoch: { boundaries.append($0) }) { _, _ in }
        XCTAssertEqual(boundaries, [11], "at the first step of the line whose epoch changed")
    }
}
