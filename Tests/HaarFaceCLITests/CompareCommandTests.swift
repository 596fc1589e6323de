import Foundation
import XCTest

/// `haarface compare` on a tiny study: two arms (poly over 2 epochs, MHLR over 1) x two seeds on TinyTraining's
/// set. The table's values are recomputed here from each run's own files (summary.json, metrics.csv).
final class CompareCommandTests: XCTestCase {
    private var workDirectory: URL!

    override func setUpWithError() throws {
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: workDirectory)
    }

    private func studyFile(_ name: String = "study.yaml", _ text: String? = nil) throws -> URL {
        let url = workDirectory.appendingPathComponent(name)
        try (text ?? """
            base: {rec: \(TinyTraining.dataDirectory.path), val_targets: [synth_val], network: r18, image_size: 16,
                   embedding_size: 32, batch_size: 8, frequent: 2, num_workers: 1}
            reference: long
            seeds: [1, 2]
            arms:
              - {name: long, num_epoch: 2, scheduler: {name: poly}}
              - {name: short, num_epoch: 1, scheduler: {name: mhlr, window: 2}}
            """).write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func json(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any], url.path)
    }

    func testStudyRunsEveryArmAndSeedAndTablesTheirOwnFiles() throws {
        let output = workDirectory.appendingPathComponent("out")
        let run = try CLI.run(["compare", try studyFile().path, "--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        for arm in ["long", "short"] {
            for seed in [1, 2] {
                let folder = output.appendingPathComponent("\(arm)/seed-\(seed)")
                for file in ["training.log", "metrics.csv", "summary.json", "report.md", "report.svg", "checkpoint/trainer.json"] {
                    XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), "\(arm) \(seed) \(file)")
                }
                let eventFiles = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("tensorboard").path)
                XCTAssertEqual(eventFiles.filter { $0.hasPrefix("events.out.tfevents.") }.count, 1, "\(arm) \(seed): \(eventFiles)")
            }
        }
        for file in ["compare.json", "compare.md", "compare.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: output.appendingPathComponent(file).path), file)
        }

        // Recompute each arm's row from the runs' summaries and metrics.
        func runFigures(_ arm: String, _ seed: Int) throws -> (seconds: Double, images: Double, accuracy: Double, best: Double, speed: Double, steps: Int, verifications: Int) {
            let folder = output.appendingPathComponent("\(arm)/seed-\(seed)")
            let summary = try json(folder.appendingPathComponent("summary.json"))
            let verifications = try XCTUnwrap(summary["verifications"] as? [[String: Any]])
            let accuracies = verifications.compactMap { $0["accuracy"] as? Double }
            let text = try String(contentsOf: folder.appendingPathComponent("metrics.csv"), encoding: .utf8)
            let speeds = text.split(separator: "\n").dropFirst().map { Double($0.split(separator: ",")[4])! }.sorted()
            let median = speeds.count % 2 == 1 ? speeds[speeds.count / 2] : (speeds[speeds.count / 2 - 1] + speeds[speeds.count / 2]) / 2
            return (summary["trainingSeconds"] as! Double, Double(summary["trainingImages"] as! Int), accuracies.last!,
                    accuracies.max()!, median, summary["steps"] as! Int, verifications.count)
        }
        let compare = try json(output.appendingPathComponent("compare.json"))
        let arms = try XCTUnwrap(compare["arms"] as? [[String: Any]])
        XCTAssertEqual(arms.map { $0["name"] as? String }, ["long", "short"])
        let long = try [1, 2].map { try runFigures("long", $0) }, short = try [1, 2].map { try runFigures("short", $0) }
        XCTAssertEqual(long.map(\.steps), [20, 20])
        XCTAssertEqual(short.map(\.steps), [10, 10])
        XCTAssertGreaterThanOrEqual(short[0].verifications, 5, "a study verifies at least 5 times a run")
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
        for (row, runs) in zip(arms, [long, short]) {
            XCTAssertEqual(row["trainingSeconds"] as! Double, mean(runs.map(\.seconds)), accuracy: 1e-9)
            XCTAssertEqual(row["accuracyMean"] as! Double, mean(runs.map(\.accuracy)), accuracy: 1e-12)
            XCTAssertEqual(row["bestAccuracyMean"] as! Double, mean(runs.map(\.best)), accuracy: 1e-12)
            let spread = (runs.map { pow($0.accuracy - mean(runs.map(\.accuracy)), 2) }.reduce(0, +) / 1).squareRoot()
            XCTAssertEqual(row["accuracyStandardDeviation"] as! Double, spread, accuracy: 1e-12)
            XCTAssertEqual(row["timeRatio"] as! Double, mean(runs.map(\.seconds)) / mean(long.map(\.seconds)), accuracy: 1e-9)
            XCTAssertEqual(row["imageRatio"] as! Double, mean(runs.map(\.images)) / mean(long.map(\.images)), accuracy: 1e-12)
        }
        XCTAssertEqual(arms[1]["imageRatio"] as! Double, 0.5, "1 epoch against 2 of the same data")
        XCTAssertNil(arms[0]["decisionsMean"], "poly is a fixed schedule")
        XCTAssertNotNil(arms[1]["decisionsMean"] as? Double, "MHLR's decisions are counted")
        let runs = try XCTUnwrap(compare["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.first { $0["arm"] as? String == "short" && $0["seed"] as? Int == 2 }?["medianImagesPerSecond"] as! Double,
                       short[1].speed, accuracy: 1e-9)

        let verdict = String(format: "short vs long: accuracy %+.1f points", 100 * (mean(short.map(\.accuracy)) - mean(long.map(\.accuracy))))
        XCTAssertTrue(run.stdout.contains(verdict), run.stdout)
        let markdown = try String(contentsOf: output.appendingPathComponent("compare.md"), encoding: .utf8)
        XCTAssertTrue(markdown.contains(verdict), markdown)
        let svg = try String(contentsOf: output.appendingPathComponent("compare.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("Time to accuracy") && svg.contains("fraction of the run"), "both figures")

        // Run again: the folder holds a study, so it needs --resume, which keeps every finished run.
        let again = try CLI.run(["compare", try studyFile().path, "--output", output.path])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("already holds runs of a study: pass --resume"), again.stderr)
        let before = try Data(contentsOf: output.appendingPathComponent("long/seed-1/model.safetensors"))
        let kept = try CLI.run(["compare", try studyFile().path, "--output", output.path, "--resume"])
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertEqual(kept.stderr.components(separatedBy: "finished before, kept").count - 1, 4, kept.stderr)
        XCTAssertEqual(try Data(contentsOf: output.appendingPathComponent("long/seed-1/model.safetensors")), before)
    }

    /// A study killed mid-arm (SIGKILL after a run's first checkpoint) and resumed ends with the same runs,
    /// byte for byte, as a study that was never interrupted.
    func testStudyKilledMidArmResumesExactly() throws {
        let study = try studyFile("one.yaml", """
            base: {rec: \(TinyTraining.dataDirectory.path), val_targets: [synth_val], network: r18, image_size: 16,
                   embedding_size: 32, batch_size: 8, frequent: 2, num_workers: 1, checkpoint_every: 3}
            reference: a
            seeds: [7]
            arms:
              - {name: a, num_epoch: 1, scheduler: {name: poly}}
              - {name: b, num_epoch: 2, scheduler: {name: mhlr, window: 2}}
            """)
        let whole = workDirectory.appendingPathComponent("whole"), killed = workDirectory.appendingPathComponent("killed")
        let uninterrupted = try CLI.run(["compare", study.path, "--output", whole.path])
        XCTAssertEqual(uninterrupted.status, 0, uninterrupted.stderr)

        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["compare", study.path, "--output", killed.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let checkpoint = killed.appendingPathComponent("b/seed-7/checkpoint/trainer.json")
        let deadline = Date().addingTimeInterval(300)
        while !FileManager.default.fileExists(atPath: checkpoint.path) && process.isRunning && Date() < deadline { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "the study must be killed inside arm b")
        XCTAssertFalse(FileManager.default.fileExists(atPath: killed.appendingPathComponent("b/seed-7/summary.json").path))

        let resumed = try CLI.run(["compare", study.path, "--output", killed.path, "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("[1/2] a seed 7: finished before, kept"), resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("[2/2] b seed 7: resuming from its checkpoint"), resumed.stderr)
        for arm in ["a", "b"] {
            let file = "\(arm)/seed-7/model.safetensors"
            XCTAssertEqual(try Data(contentsOf: killed.appendingPathComponent(file)), try Data(contentsOf: whole.appendingPathComponent(file)), file)
            let losses = { (root: URL) in try String(contentsOf: root.appendingPathComponent("\(arm)/seed-7/metrics.csv"), encoding: .utf8)
                .split(separator: "\n").map { $0.split(separator: ",").prefix(4).joined(separator: ",") } }
            XCTAssertEqual(try losses(killed), try losses(whole), "\(arm): the same steps, losses and LRs")
        }
    }

    func testBadStudyFilesNameTheFileAndKey() throws {
        let data = TinyTraining.dataDirectory.path
        let cases: [(String, String)] = [
            ("base: {rec: \(data)}\narms: [{name: a, num_epochs: 2}]\n", "arms[0] 'a': unknown setting 'num_epochs'"),
            ("base: {rec: \(data)}\nreference: nope\narms: [{name: a}]\n", "reference: no arm is named 'nope' (arms: a)"),
            ("base: {rec: \(data)}\narms: [{name: a}, {name: a, lr: 0.2}]\n", "arms[1]: duplicate arm name 'a'"),
            ("base: {rec: \(data)}\narmz: []\n", "unknown key 'armz'"),
            ("base: {rec: \(data), batch_sise: 8}\narms: [{name: a}]\n", "base: unknown setting 'batch_sise'"),
            ("arms: [{name: a, scheduler: {name: mhlr, windw: 5}}]\n", "'scheduler' should be a scheduler parameter"),
            ("arms: [{name: a, scheduler: {name: poly, window: 5}}]\n", "scheduler: window applies to mhlr, not to poly"),
            ("arms: [{name: a, batch_size: many}]\n", "'batch_size' should be Int: found many"),
            ("arms: [{name: a, output: x}]\n", "'output' is set by the study"),
            ("seeds: [1, 1]\narms: [{name: a}]\n", "seeds: expected a list of distinct whole numbers"),
        ]
        for (index, (text, message)) in cases.enumerated() {
            let file = try studyFile("bad\(index).yaml", text)
            let run = try CLI.run(["compare", file.path, "--output", workDirectory.appendingPathComponent("bad\(index)").path])
            XCTAssertNotEqual(run.status, 0, text)
            XCTAssertTrue(run.stderr.contains(file.path), "names the file: \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(message), "\(message) in: \(run.stderr)")
        }
        let seeds = try CLI.run(["compare", try studyFile().path, "--seeds", "1,x", "--output", workDirectory.path])
        XCTAssertNotEqual(seeds.status, 0)
        XCTAssertTrue(seeds.stderr.contains("--seeds takes distinct whole numbers"), seeds.stderr)
    }
}
