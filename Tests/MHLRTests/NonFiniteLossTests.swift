import XCTest
@testable import MHLR

/// NaN and infinite losses never change a detector's state; they are counted.
final class NonFiniteLossTests: XCTestCase {
    func testDetectorsIgnoreNonFiniteLosses() throws {
        let losses = plateauLosses(4000)
        let poison: [Double] = [.nan, .infinity, -.infinity]
        for (name, scheduler) in try everyScheduler() {
            var clean = scheduler
            var poisoned = scheduler
            var cleanLRs: [Double] = []
            var poisonedLRs: [Double] = []
            var inserted = 0
            for (k, loss) in losses.enumerated() {
                cleanLRs.append(clean.step(loss: loss))
                if k % 7 == 3 {
                    let before = poisoned.learningRate
                    let after = poisoned.step(loss: poison[inserted % 3])
                    inserted += 1
                    // A detector keeps its LR; closed forms advance with the step count, as PyTorch's would.
                    if case .plateau = scheduler { XCTAssertEqual(after, before, name) }
                    if case .mhlr = scheduler { XCTAssertEqual(after, before, name) }
                    if case .fastFace = scheduler { XCTAssertEqual(after, before, name) }
                }
                poisonedLRs.append(poisoned.step(loss: loss))
            }
            XCTAssertEqual(poisoned.nonFiniteLosses, inserted, name)
            XCTAssertEqual(poisoned.stepsFed, losses.count + inserted, name)
            XCTAssertEqual(clean.nonFiniteLosses, 0, name)
            switch (clean, poisoned) {
            case (.mhlr(let a), .mhlr(let b)):
                XCTAssertEqual(poisonedLRs, cleanLRs, name)
                XCTAssertEqual(a.smoothedLoss, b.smoothedLoss, name)
                XCTAssertEqual(a.haarResponse, b.haarResponse, name)
                XCTAssertEqual(a.stepsBelowThreshold, b.stepsBelowThreshold, name)
                XCTAssertNotEqual(Set(cleanLRs).count, 1, "\(name) never changed its LR")
            case (.fastFace(let a), .fastFace(let b)):
                XCTAssertEqual(poisonedLRs, cleanLRs, name)
                XCTAssertEqual(a.response, b.response, name)
                XCTAssertNotEqual(Set(cleanLRs).count, 1, "\(name) never changed its LR")
            case (.plateau(let a), .plateau(let b)):
                XCTAssertEqual(poisonedLRs, cleanLRs, name)
                XCTAssertEqual(a.best, b.best, name)
                XCTAssertNotEqual(Set(cleanLRs).count, 1, "\(name) never changed its LR")
            default:
                XCTAssertEqual(poisoned.learningRate, try closedFormLR(scheduler, after: losses.count + inserted), name)
            }
        }
    }

    private func closedFormLR(_ scheduler: AnyScheduler, after steps: Int) throws -> Double {
        var copy = scheduler
        for _ in 0..<steps { _ = copy.step(loss: 1) }
        return copy.learningRate
    }
}
