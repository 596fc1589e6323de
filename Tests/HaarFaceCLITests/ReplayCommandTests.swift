import Foundation
import MHLR
import XCTest

/// `haarface replay` and `haarface schedule`, run as a user runs them.
final class ReplayCommandTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// MultiStepLR with milestone 3 multiplies the LR after the 3rd scheduler step, so step 4 is the first to
    /// run at 0.1 * 0.1 (= 0.010000000000000002 in binary64, as PyTorch computes it); milestone 6 -> step 7.
    func testMultiStepEventsAreTheFirstStepsRunningWithTheNewLR() throws {
        let log = try write("run.csv", "loss\n" + String(repeating: "1.0\n", count: 10))
        let run = try CLI.run(["replay", log, "--scheduler", "multistep", "--milestones", "3,6", "--base-lr", "0.1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, "step,lr,event\n4,0.010000000000000002,down\n7,0.0010000000000000002,down\n")
    }

    /// The CLI must feed each logged mean once per step of its interval: compare with the library fed directly.
    func testMHLRReplayOfAnArcfaceLogMatchesTheLibraryFedStepByStep() throws {
        var lines: [String] = [], perStep: [Double] = []
        var loss = 20.0
        for step in stride(from: 20, through: 6000, by: 10) {
            loss = step < 2000 ? loss * 0.995 : loss        // falls, then a plateau
            let logged = loss + (step % 30 == 0 ? 0.01 : -0.01)
            lines.append("Training: x-Speed 1.00 samples/sec   Loss \(logged)   LearningRate 0.100000   Epoch: 0   Global Step: \(step)")
            perStep += Array(repeating: logged, count: step == 20 ? 20 : 10)
        }
        let log = try write("training.log", lines.joined(separator: "\n") + "\n")
        let run = try CLI.run(["replay", log, "--window", "200", "--threshold", "0.001", "--restart-after", "none"])
        XCTAssertEqual(run.status, 0, run.stderr)

        var scheduler = try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 200, threshold: 0.001, restartAfter: nil))
        var expected = "step,lr,event\n", learningRate = 0.1
        for (index, loss) in perStep.enumerated() {
            let next = scheduler.step(loss: loss)
            if next != learningRate { expected += "\(index + 2),\(next),\(next < learningRate ? "down" : "up")\n" }
            learningRate = next
        }
        XCTAssertGreaterThan(expected.split(separator: "\n").count, 2, "the plateau must cause decays")
        XCTAssertEqual(run.stdout, expected)
    }

    func testJSONSummaryAndPlot() throws {
        let log = try write("run.csv", "step,loss,lr\n" + (1...400).map { "\($0),\(max(1.0, 10 - Double($0) * 0.05)),0.1" }
            .joined(separator: "\n") + "\n")
        let plot = directory.appendingPathComponent("run.svg").path
        let run = try CLI.run(["replay", log, "--format", "json", "--window", "20", "--plot", plot])
        XCTAssertEqual(run.status, 0, run.stderr)
        let summary = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(summary["steps_replayed"] as? Int, 400)
        XCTAssertEqual(summary["initial_lr"] as? Double, 0.1, "the base LR defaults to the log's first LR")
        let events = summary["events"] as! [[String: Any]]
        XCTAssertFalse(events.isEmpty, "a 200-step plateau with window 20 must decay")
        XCTAssertEqual(events.first?["event"] as? String, "down")
        XCTAssertEqual(events.first?["new_lr"] as? Double, 0.05)

        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg"))
        XCTAssertTrue(svg.hasSuffix("</svg>\n"))
        for text in ["Training loss", "Haar response", "threshold 0.06", "logged LR", "replayed LR (mhlr)", "training step"] {
            XCTAssertTrue(svg.contains(text), "the plot lacks '\(text)'")
        }
        XCTAssertEqual(svg.components(separatedBy: "<polygon").count - 1, events.count, "one marker per decision")
    }

    func testBadInputGivesAClearErrorAndNonZeroExit() throws {
        let missing = try CLI.run(["replay", directory.appendingPathComponent("nope.log").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nope.log: cannot read the file (No such file or directory)"), missing.stderr)

        let malformed = try CLI.run(["replay", try write("bad.csv", "loss\n1.0\nfoo\n")])
        XCTAssertNotEqual(malformed.status, 0)
        XCTAssertTrue(malformed.stderr.contains("bad.csv:3: the 'loss' field is not a number: 'foo'"), malformed.stderr)

        let empty = try CLI.run(["replay", try write("empty.log", "nothing here\n")])
        XCTAssertNotEqual(empty.status, 0)
        XCTAssertTrue(empty.stderr.contains("empty.log: no losses found"), empty.stderr)

        let log = try write("ok.csv", "loss\n1\n2\n")
        let wrongFlag = try CLI.run(["replay", log, "--scheduler", "poly", "--window", "10"])
        XCTAssertNotEqual(wrongFlag.status, 0)
        XCTAssertTrue(wrongFlag.stderr.contains("--window applies to mhlr, not to --scheduler poly"), wrongFlag.stderr)

        let badParameter = try CLI.run(["replay", log, "--window", "1"])
        XCTAssertNotEqual(badParameter.status, 0)
        XCTAssertTrue(badParameter.stderr.contains("window"), badParameter.stderr)

        let badPlot = try CLI.run(["replay", log, "--plot", "out.png"])
        XCTAssertNotEqual(badPlot.status, 0)
        XCTAssertTrue(badPlot.stderr.contains("give a file name ending in .svg"), badPlot.stderr)
    }

    /// Each loss line is answered with the LR of the next step: milestone 2 -> the answer to the 2nd loss is 0.5.
    func testScheduleStreamsOneLearningRatePerLoss() throws {
        let run = try CLI.run(["schedule", "--scheduler", "multistep", "--milestones", "2", "--gamma", "0.5",
                               "--base-lr", "1"], stdin: "3.0\n\n2.5\nnan\n")
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, "1.0\n0.5\n0.5\n")

        let bad = try CLI.run(["schedule", "--scheduler", "constant"], stdin: "1.0\nhello\n")
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stdout, "0.1\n")
        XCTAssertTrue(bad.stderr.contains("stdin:2: expected one loss per line, found 'hello'"), bad.stderr)

        let missingTotal = try CLI.run(["schedule", "--scheduler", "fastface"], stdin: "")
        XCTAssertNotEqual(missingTotal.status, 0)
        XCTAssertTrue(missingTotal.stderr.contains("--scheduler fastface needs --total-steps"), missingTotal.stderr)
    }

    /// Every row of a sweep equals the single replay with its parameters (decisions, first decision, final LR),
    /// in the order of the axes (the first outermost); JSON and the plot carry the same rows.
    func testSweepRowsEqualTheSingleReplays() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/arcface_multistep.log").path
        let plot = directory.appendingPathComponent("sweep.svg").path
        let sweep = try CLI.run(["replay", example, "--restart-after", "none", "--sweep", "threshold=0.02,0.06",
                                 "--sweep", "window-fraction=0.01,0.015,0.02", "--plot", plot])
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        let lines = sweep.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "threshold,window_fraction,decisions,first_decision_step,final_lr,stop_step")
        XCTAssertEqual(lines.count, 7)
        var decisions = Set<String>()
        for (index, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(fields[0], ["0.02", "0.06"][index / 3])
            XCTAssertEqual(fields[1], ["0.01", "0.015", "0.02"][index % 3])
            let single = try CLI.run(["replay", example, "--restart-after", "none", "--threshold", fields[0],
                                      "--window-fraction", fields[1], "--format", "json"])
            XCTAssertEqual(single.status, 0, single.stderr)
            let summary = try JSONSerialization.jsonObject(with: Data(single.stdout.utf8)) as! [String: Any]
            let events = summary["events"] as! [[String: Any]]
            XCTAssertEqual(Int(fields[2]), events.count, line)
            XCTAssertEqual(Int(fields[3]), events.first?["step"] as? Int, line)
            XCTAssertEqual(Double(fields[4]), summary["final_lr"] as? Double, line)
            decisions.insert(fields[2])
        }
        XCTAssertGreaterThan(decisions.count, 2, "the grid must change the decisions, or it proves little")
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        XCTAssertTrue(svg.contains("threshold=0.06 window_fraction=0.02"), "every combination is named in the figure")

        let json = try CLI.run(["replay", example, "--sweep", "threshold=0.06", "--sweep", "stop-after-decays=2", "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let rows = (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any])["rows"] as! [[String: Any]]
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows[0]["decisions"] as? Int, 2)
        XCTAssertNotNil(rows[0]["stop_step"] as? Int, "the third decision is the stop")
        XCTAssertEqual((rows[0]["parameters"] as? [String: String])?["stop_after_decays"], "2")
    }

    func testBadSweepsAreNamed() throws {
        let log = try write("run.csv", "loss\n" + String(repeating: "1.0\n", count: 50))
        for (arguments, message) in [
            (["--sweep", "bogus=1"], "'bogus' is not a scheduler parameter"),
            (["--sweep", "threshold"], "expected NAME=V1,V2"),
            (["--sweep", "threshold=1", "--sweep", "threshold=2"], "'threshold' is swept twice"),
            (["--sweep", "alpha=0.1"], "--sweep combination alpha=0.1: invalid scheduler parameter alpha"),
            (["--sweep", "window=1"], "--sweep combination window=1"),
        ] {
            let run = try CLI.run(["replay", log] + arguments)
            XCTAssertNotEqual(run.status, 0, "\(arguments)")
            XCTAssertTrue(run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
    }
}
