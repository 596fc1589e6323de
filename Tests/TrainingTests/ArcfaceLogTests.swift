import Foundation
import MHLR
import XCTest
@testable import Training

final class ArcfaceLogTests: XCTestCase {
    /// arcface_torch's CallBackLogging: the first multiple of `frequent` only starts the clock, so with
    /// frequent 10 the lines come at steps 20 and 30; line 20 averages steps 1-20, line 30 steps 21-30.
    func testLinesFollowArcfaceTorchAndReplayReadsThemBack() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            let log = try ArcfaceLog(url: url, frequent: 10, batchSize: 8, totalSteps: 100, echo: false)
            for step in 1...35 {
                try log.step(step, loss: Double(step), learningRate: 0.1, epoch: 0)
            }
            try log.write("[lfw][35]XNorm: 21.500000")
        }
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3)
        let prefix = #"^Training: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}-"#
        for line in lines { XCTAssertNotNil(line.range(of: prefix, options: .regularExpression), line) }
        // mean(1...20) = 10.5, mean(21...30) = 25.5
        XCTAssertNotNil(lines[0].range(of: #"-Speed \d+\.\d\d samples/sec   Loss 10\.5000   LearningRate 0\.100000   Epoch: 0   Global Step: 20   Required: \d+ hours$"#, options: .regularExpression), lines[0])
        XCTAssertTrue(lines[1].contains("   Loss 25.5000   LearningRate 0.100000   Epoch: 0   Global Step: 30   "), lines[1])
        XCTAssertTrue(lines[2].hasSuffix("-[lfw][35]XNorm: 21.500000"), lines[2])

        let replayed = try TrainingLog(contentsOf: url)
        XCTAssertEqual(replayed.entries, [LoggedLoss(step: 20, loss: 10.5, learningRate: 0.1, epoch: 0),
                                          LoggedLoss(step: 30, loss: 25.5, learningRate: 0.1, epoch: 0)])
    }
}
