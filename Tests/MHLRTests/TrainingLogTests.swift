import Foundation
import XCTest
@testable import MHLR

/// The inputs are literal text below; every expected value is read off that text by hand.
final class TrainingLogTests: XCTestCase {
    private let arcfaceLog = """
        config: network r100, lr 0.1
        Training: 2024-03-01 10:00:00,101-Speed 1200.00 samples/sec   Loss 45.5000   LearningRate 0.100000   Epoch: 0   Global Step: 20   Fp16 Grad Scale: 65536   Required: 30 hours
        [lfw][2000]XNorm: 22.1
        Training: 2024-03-01 10:00:10,101-Speed 1210.00 samples/sec   Loss 44.2500   LearningRate 0.100000   Epoch: 0   Global Step: 30   Required: 30 hours
        Training: 2024-03-01 10:00:20,101-Speed 1210.00 samples/sec   Loss nan   LearningRate 0.050000   Epoch: 0   Global Step: 40   Required: 30 hours\r
        """

    func testArcfaceLinesAreParsedAndOtherLinesIgnored() throws {
        let log = try TrainingLog(bytes: Data(arcfaceLog.utf8), source: "training.log")
        XCTAssertEqual(log.format, .arcface)
        XCTAssertEqual(log.entries.map(\.step), [20, 30, 40])
        XCTAssertEqual(log.entries[0].loss, 45.5)
        XCTAssertEqual(log.entries[1].loss, 44.25)
        XCTAssertTrue(log.entries[2].loss.isNaN)
        XCTAssertEqual(log.entries.map(\.learningRate), [0.1, 0.1, 0.05])
        XCTAssertEqual(log.lastStep, 40)
    }

    /// The first line covers steps 1...20, the next 21...30, then 31...40 (shared/reference/insightface.md).
    func testEachLoggedMeanIsFedForEveryStepOfItsInterval() throws {
        let log = try TrainingLog(bytes: Data(arcfaceLog.utf8), source: "training.log")
        var steps: [Int] = [], losses: [Double] = []
        log.forEachStep { steps.append($0); losses.append($1) }
        XCTAssertEqual(steps, Array(1...40))
        XCTAssertEqual(Array(losses[0..<20]), Array(repeating: 45.5, count: 20))
        XCTAssertEqual(Array(losses[20..<30]), Array(repeating: 44.25, count: 10))
        XCTAssertTrue(losses[30..<40].allSatisfy(\.isNaN))
    }

    func testCSVWithAndWithoutStepColumn() throws {
        let plain = try TrainingLog(bytes: Data("epoch,loss\n0,3.5\n0, 3.25 \n\n1,\"3\"\n".utf8), source: "a.csv")
        XCTAssertEqual(plain.format, .csv)
        XCTAssertEqual(plain.entries, [LoggedLoss(step: 1, loss: 3.5, epoch: 0), LoggedLoss(step: 2, loss: 3.25, epoch: 0),
                                       LoggedLoss(step: 3, loss: 3, epoch: 1)])
        let stepped = try TrainingLog(bytes: Data("Step,Loss,lr\n5,2.0,0.1\n7,1.5,0.05\n".utf8), source: "b.csv")
        XCTAssertEqual(stepped.entries, [LoggedLoss(step: 5, loss: 2, learningRate: 0.1),
                                         LoggedLoss(step: 7, loss: 1.5, learningRate: 0.05)])
        var fed: [Double] = []
        stepped.forEachStep { _, loss in fed.append(loss) }
        XCTAssertEqual(fed, [2, 2, 2, 2, 2, 1.5, 1.5])
    }

    func testMalformedInputNamesTheFileAndLine() {
        assertError("step,loss\n1,2.0\n2,abc\n", "bad.csv:3: the 'loss' field is not a number: 'abc'")
        assertError("step,loss\n1,2.0\n2\n", "bad.csv:3: expected 2 comma-separated fields as in the header, found 1")
        assertError("step,loss\n2,2.0\n2,1.0\n", "bad.csv:3: step 2 does not come after step 2")
        assertError("step,loss\n1.5,2.0\n", "bad.csv:2: the 'step' field is not a positive whole number: '1.5'")
        assertError("step,loss\n", "bad.csv: no losses found: expected a CSV header with a 'loss' column and at least one row")
        assertError("hello\nworld\n", "bad.csv: no losses found: expected lines with 'Loss <x>' and 'Global Step: <n>'"
            + " (arcface_torch's training.log), or a CSV with a 'loss' column")
        assertError("x Loss 1.0 Global Step: 20\nx Loss 1.0 Global Step: 10\n",
                    "bad.csv:2: step 10 does not come after step 20 of line 1 (a log holding several runs? keep one run per file)")
        assertError("x Loss abc Global Step: 20\n", "bad.csv:1: expected a number after 'Loss'")
    }

    /// A replay visits every step up to the last: a step number past TrainingLog.maximumStep (a corrupt digit
    /// would make a replay run for days) is refused, in both formats.
    func testStepsPastTheBoundAreRefused() throws {
        assertError("x Loss 1.0 Global Step: 20\nx Loss 1.0 Global Step: 1000000000000000\n",
                    "bad.csv:2: step 1000000000000000 is past the largest a log may name (10000000)")
        assertError("step,loss\n10000001,2.0\n", "bad.csv:2: step 10000001 is past the largest a log may name (10000000)")
        XCTAssertEqual(try TrainingLog(bytes: Data("step,loss\n10000000,2.0\n".utf8), source: "ok.csv").lastStep, 10_000_000)
    }

    func testUnreadableFileIsNamed() {
        XCTAssertThrowsError(try TrainingLog(contentsOf: URL(fileURLWithPath: "/nonexistent/training.log"))) { error in
            XCTAssertEqual("\(error)", "/nonexistent/training.log: cannot read the file (No such file or directory)")
        }
    }

    private func assertError(_ text: String, _ expected: String, line: UInt = #line) {
        XCTAssertThrowsError(try TrainingLog(bytes: Data(text.utf8), source: "bad.csv"), line: line) { error in
            XCTAssertEqual("\(error)", expected, line: line)
        }
    }
}
