import XCTest
@testable import MHLR

/// FastFace (mhlr.md section 2): recursion, start-up, tolerance and cap.
final class FastFaceTests: XCTestCase {
    func testFirstResponsesByHand() throws {
        let (a, b) = (0.1, 0.2)
        let losses = [5.0, 3.0, 2.5]  // x_2 = 2, x_3 = 0.5
        for startup in [FastFace.Startup.corrected, .released] {
            var scheduler = try FastFace(
                baseLR: 1, configuration: .init(totalSteps: 100, alpha: a, beta: b, startup: startup))
            _ = scheduler.step(loss: losses[0])
            XCTAssertNil(scheduler.response)
            _ = scheduler.step(loss: losses[1])
            XCTAssertEqual(scheduler.response, a * 2)  // E_2 = alpha x_2 in both start-ups
            _ = scheduler.step(loss: losses[2])
            // E_3 = (2 - a - b) E_2 - (1 - a)(1 - b) E_1 + a b x_3, E_1 = alpha x_2 (corrected) or 0 (released).
            let e1 = startup == .corrected ? a * 2 : 0
            let expected = (2 - a - b) * (a * 2) - (1 - a) * (1 - b) * e1 + a * b * 0.5
            XCTAssertEqual(try XCTUnwrap(scheduler.response), expected, accuracy: 1e-15, "\(startup)")
        }
    }

    /// The corrected start-up equals the two-stage form D_t = (1-a) D_{t-1} + a x_t, E_t = b D_t + (1-b) E_{t-1}
    /// with D_1 = 0 and E_2 = D_2 (mhlr.md: "equal to the two-stage form").
    func testCorrectedStartupEqualsTwoStageForm() throws {
        let (a, b) = (1e-3, 2e-3)
        var scheduler = try FastFace(baseLR: 1, configuration: .init(totalSteps: 10_000, alpha: a, beta: b))
        var signal = PlateauSignal(windowSteps: 100, seed: 9)
        var previous = signal.next()
        _ = scheduler.step(loss: previous)
        var d = 0.0
        var e: Double?
        for _ in 2...20_000 {
            let loss = signal.next()
            let x = previous - loss
            previous = loss
            d = (1 - a) * d + a * x
            e = e.map { b * d + (1 - b) * $0 } ?? d
            _ = scheduler.step(loss: loss)
            // rtol 1e-9 with atol 1e-13: the two forms round differently; the one-recursion form has a
            // near-double root (1 - a, 1 - b), so rounding errors grow about linearly, ~t * eps * |x| / a.
            let got = try XCTUnwrap(scheduler.response)
            XCTAssertEqual(got, e!, accuracy: 1e-9 * abs(e!) + 1e-13)
        }
    }

    /// A loss that rises at step 2 (x_2 = -0.5, noise) and then falls steadily by 1e-3 per step.
    /// Released start-up (E_1 = 0): in the two-stage view D_2 = (E_2 - (1-b) E_1) / b = x_2 = -0.5 instead of
    /// a x_2, so E stays negative for thousands of steps: more than K = floor(0.05 * 40000) = 2000 steps below
    /// lambda, a spurious decay at step K + 3 = 2003 (count reaches K at t = 2002). Corrected: the steady drop
    /// x = 1e-3 (E -> 1e-3 >> lambda) outweighs a x_2 long before K steps, so no decay at all.
    func testReleasedStartupDecaysSpuriously() throws {
        let losses = [10, 10.5] + (1...8000).map { 10.5 - 1e-3 * Double($0) }
        var results: [FastFace.Startup: (events: [LearningRateEvent], firstAboveThreshold: Int?)] = [:]
        for startup in [FastFace.Startup.corrected, .released] {
            var recorder = ScheduleRecorder(try FastFace(
                baseLR: 0.02, configuration: .init(totalSteps: 40_000, startup: startup)))
            var firstAbove: Int?
            for (index, loss) in losses.enumerated() {
                recorder.step(loss: loss)
                if firstAbove == nil, let e = recorder.scheduler.response, e >= 5e-5 { firstAbove = index + 1 }
            }
            results[startup] = (recorder.events, firstAbove)
        }
        XCTAssertEqual(results[.released]!.events.first, LearningRateEvent(step: 2003, oldLR: 0.02, newLR: 0.01))
        // Released: E_t < lambda for every t <= 2002 (nil: never above within the 8002 steps).
        XCTAssertGreaterThan(results[.released]!.firstAboveThreshold ?? Int.max, 2002)
        XCTAssertEqual(results[.corrected]!.events, [])
        XCTAssertLessThan(try XCTUnwrap(results[.corrected]!.firstAboveThreshold), 2002)
    }

    func testToleranceAndHalvingCap() throws {
        // Constant loss: E_t = 0 < lambda from t = 2; K = floor(0.05 * 1000) = 50: the count reaches K at t = 52
        // and the decay applies from step 53, then every K + 1 = 51 steps, at most maxHalvings times.
        for cap in [8, 3, 0] {
            var recorder = ScheduleRecorder(try FastFace(baseLR: 1, configuration: .init(totalSteps: 1000, maxHalvings: cap)))
            for _ in 1...1000 { recorder.step(loss: 7) }
            XCTAssertEqual(recorder.events.map(\.step), (0..<cap).map { 53 + 51 * $0 }, "cap \(cap)")
            XCTAssertEqual(recorder.scheduler.learningRate, 1 / Double(1 << cap))
            XCTAssertEqual(recorder.scheduler.halvings, cap)
        }
    }
}
