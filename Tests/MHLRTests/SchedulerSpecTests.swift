import Foundation
import XCTest
@testable import MHLR

final class SchedulerSpecTests: XCTestCase {
    private func spec(_ json: String) throws -> SchedulerSpec {
        try JSONDecoder().decode(SchedulerSpec.self, from: Data(json.utf8))
    }

    /// mhlr.md: the published default window is floor(0.015 x total steps); restart_after accepts "none".
    func testDecodedSpecBuildsTheConfiguredScheduler() throws {
        let built = try spec(#"{"name": "mhlr", "threshold": 0.05, "restart_after": "none"}"#)
            .makeScheduler(defaultTotalSteps: 100_000, defaultBaseLR: 0.02)
        guard case .mhlr(let mhlr) = built else { return XCTFail("expected MHLR, got \(built)") }
        XCTAssertEqual(mhlr.configuration.windowSteps, 1500)
        XCTAssertEqual(mhlr.configuration.threshold, 0.05)
        XCTAssertNil(mhlr.configuration.restartAfter)
        XCTAssertEqual(mhlr.learningRate, 0.02)

        let multistep = try spec(#"{"name": "multistep", "milestones": [2], "gamma": 0.5, "base_lr": 1}"#).makeScheduler()
        var recorder = ScheduleRecorder(multistep)
        for _ in 0..<3 { recorder.step(loss: 1) }
        XCTAssertEqual(recorder.events, [LearningRateEvent(step: 3, oldLR: 1, newLR: 0.5)])
    }

    func testRoundTripAndErrorsNameTheParameter() throws {
        var original = SchedulerSpec(kind: .fastface)
        original.totalSteps = 5000
        original.startup = .released
        let decoded = try JSONDecoder().decode(SchedulerSpec.self, from: JSONEncoder().encode(original))
        XCTAssertEqual(decoded, original)

        XCTAssertThrowsError(try spec(#"{"name": "poly", "window": 10}"#).makeScheduler(defaultTotalSteps: 100)) {
            XCTAssertEqual("\($0)", "invalid scheduler parameter window = set: applies to mhlr, not to poly")
        }
        XCTAssertThrowsError(try spec(#"{"name": "cosine"}"#).makeScheduler()) {
            XCTAssertEqual("\($0)", "invalid scheduler parameter total_steps = unset: cosine needs the total number of training steps")
        }
        XCTAssertThrowsError(try spec(#"{"name": "mhlr", "restart_after": "sometimes"}"#))
        XCTAssertThrowsError(try spec(#"{"name": "nosuch"}"#))
    }
}
