import Foundation
import FuzzTargets
import XCTest

/// Every input in Fuzz/regressions/<target>/ once crashed, hung or ran out of memory in a fuzz run (Fuzz/run.sh
/// kept it in .build-fuzz/artifacts/; the file name says what it did); each is read again through the same
/// target and must now get an answer, a refusal naming what is wrong or a result, within a second. A trap
/// ends this test process, so a regression cannot pass.
final class FuzzRegressionTests: XCTestCase {
    static let regressions = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz/regressions")

    override func tearDown() {
        FuzzTarget.removeScratchFiles()
    }

    func testEveryRegressionInputGetsAnAnswer() throws {
        let manager = FileManager.default
        let folders = try manager.contentsOfDirectory(atPath: Self.regressions.path).sorted()
        XCTAssertFalse(folders.isEmpty, "no regression inputs under \(Self.regressions.path)")
        var inputs = 0
        for folder in folders {
            let target = try XCTUnwrap(FuzzTarget(rawValue: folder), "Fuzz/regressions/\(folder) is not a fuzz target")
            for name in try manager.contentsOfDirectory(atPath: Self.regressions.appendingPathComponent(folder).path).sorted() {
                let data = try Data(contentsOf: Self.regressions.appendingPathComponent(folder).appendingPathComponent(name))
                let start = Date()
                let answer: String
                do { try target.run(data); answer = "read" } catch { answer = "refused: \(error)" }
                XCTAssertLessThan(Date().timeIntervalSince(start), 1, "\(folder)/\(name)")
                print("\(folder)/\(name): \(answer.prefix(200))")
                inputs += 1
            }
        }
        XCTAssertGreaterThan(inputs, 0)
    }
}
