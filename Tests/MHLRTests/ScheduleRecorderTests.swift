import XCTest
@testable import MHLR

final class ScheduleRecorderTests: XCTestCase {
    func testEventStepIsTheFirstStepWithTheNewLR() throws {
        // PyTorch: after 3 scheduler steps (losses of steps 1-3 fed) the LR is base * gamma: step 4 runs with it.
        var recorder = ScheduleRecorder(try MultiStepLR(baseLR: 1, milestones: [3, 5], gamma: 0.5))
        let lrs = (1...6).map { _ in recorder.step(loss: 1) }
        XCTAssertEqual(lrs, [1, 1, 0.5, 0.5, 0.25, 0.25])
        XCTAssertEqual(recorder.events, [
            LearningRateEvent(step: 4, oldLR: 1, newLR: 0.5),
            LearningRateEvent(step: 6, oldLR: 0.5, newLR: 0.25),
        ])
    }

    func testAnySchedulerStepsLikeTheWrappedOne() throws {
        let losses = plateauLosses(3000)
        var direct = try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 50))
        var wrapped = AnyScheduler.mhlr(direct)
        for loss in losses { XCTAssertEqual(wrapped.step(loss: loss), direct.step(loss: loss)) }
        XCTAssertEqual(wrapped, .mhlr(direct))
        XCTAssertEqual(wrapped.stepsFed, 3000)
    }

    func testAnySchedulerStoresItsKind() throws {
        let scheduler = AnyScheduler.multiStep(try MultiStepLR(baseLR: 0.5, milestones: [2]))
        let object = try XCTUnwrap(
            JSONSerialization.jsonObject(with: JSONEncoder().encode(scheduler)) as? [String: Any])
        XCTAssertEqual(object["kind"] as? String, "multiStep")
        XCTAssertEqual((object["scheduler"] as? [String: Any])?["baseLR"] as? Double, 0.5)
        let unknown = Data(#"{"kind": "warp", "scheduler": {}}"#.utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(AnyScheduler.self, from: unknown))
    }
}
