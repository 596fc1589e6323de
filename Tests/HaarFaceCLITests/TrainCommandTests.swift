import Foundation
import MHLR
import NN
import XCTest

/// `haarface train` end to end on a tiny synthetic set (10 identities x 8 images at 16x16, 40 held-out
/// pairs): 10 steps per epoch at batch 8.
final class TrainCommandTests: XCTestCase {
    private var workDirectory: URL!

    override func setUpWithError() throws {
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: workDirectory)
    }

    private func arguments(output: String, extra: [String] = [], scheduler: [String] = ["--window", "4"]) -> [String] {
        TinyTraining.arguments(output: workDirectory.appendingPathComponent(output), extra: extra, scheduler: scheduler)
    }

    func testTrainingWritesArcfaceTorchOutputsAndAReport() throws {
        let run = try CLI.run(arguments(output: "run", extra: ["--checkpoint-every", "5"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        let output = workDirectory.appendingPathComponent("run")

        // training.log: arcface_torch's lines, first at 2 x frequent, read back by the replay reader.
        let log = try TrainingLog(contentsOf: output.appendingPathComponent("training.log"))
        XCTAssertEqual(log.entries.map(\.step), Array(stride(from: 4, through: 20, by: 2)))
        let text = try String(contentsOf: output.appendingPathComponent("training.log"), encoding: .utf8)
        for step in [10, 20] {
            XCTAssertTrue(text.contains("-[synth_val][\(step)]XNorm: "), text)
            XCTAssertTrue(text.contains("-[synth_val][\(step)]Accuracy-Flip: "), text)
            XCTAssertTrue(text.contains("-[synth_val][\(step)]Accuracy-Highest: "), text)
        }
        // metrics.csv: one row per step; its losses average to the log's lines (line 4 covers steps 1-4).
        let metrics = try TrainingLog(contentsOf: output.appendingPathComponent("metrics.csv"))
        XCTAssertEqual(metrics.entries.map(\.step), Array(1...20))
        let firstFour = metrics.entries.prefix(4).map(\.loss).reduce(0, +) / 4
        XCTAssertEqual(log.entries[0].loss, firstFour, accuracy: 6e-5, "the log prints %.4f of the mean")

        let eventFiles = try FileManager.default.contentsOfDirectory(atPath: output.appendingPathComponent("tensorboard").path)
        XCTAssertEqual(eventFiles.count, 1, "\(eventFiles)")
        XCTAssertTrue(eventFiles.first?.hasPrefix("events.out.tfevents.") == true, "\(eventFiles)")
        for file in ["model.safetensors", "report.md", "report.svg", "checkpoint/backbone.safetensors",
                     "checkpoint/head.safetensors", "checkpoint/optimizer.safetensors", "checkpoint/trainer.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: output.appendingPathComponent(file).path), file)
        }
        let report = try String(contentsOf: output.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(report.contains("| 20 | synth_val |"), report)

        // The model loads back for evaluation and gives the trainer's own last verification figures.
        let eval = try CLI.run(["eval", "--checkpoint", output.appendingPathComponent("model.safetensors").path,
                                "--bin", TinyTraining.dataDirectory.appendingPathComponent("synth_val.bin").path])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let lastAccuracy = text.split(separator: "\n").last { $0.contains("[synth_val][20]Accuracy-Flip: ") }!
            .components(separatedBy: "Accuracy-Flip: ")[1]
        XCTAssertTrue(eval.stdout.contains("[synth_val][0]Accuracy-Flip: \(lastAccuracy)"), eval.stdout)
    }

    /// A run killed with SIGKILL after a checkpoint and resumed ends with the same weights, byte for byte,
    /// as an uninterrupted run with the same thread count.
    func testResumeAfterKillMatchesAnUninterruptedRun() throws {
        try assertResumeAfterKillMatchesAnUninterruptedRun(extra: [])
    }

    /// The same for schedule-free SGD, whose checkpoint holds z and x and the weights at x: the resumed run
    /// rebuilds y from them and ends at the same x.
    func testScheduleFreeResumeAfterKillMatchesAnUninterruptedRun() throws {
        try assertResumeAfterKillMatchesAnUninterruptedRun(
            extra: ["--optimizer", "schedulefree"], scheduler: ["--scheduler", "constant", "--warmup-steps", "3"])
        let summary = try JSONSerialization.jsonObject(
            with: Data(contentsOf: workDirectory.appendingPathComponent("whole/summary.json"))) as! [String: Any]
        XCTAssertEqual(summary["steps"] as? Int, 20)
    }

    func assertResumeAfterKillMatchesAnUninterruptedRun(extra: [String], scheduler: [String] = ["--window", "4"],
                                                        file: StaticString = #filePath, line: UInt = #line) throws {
        let whole = try CLI.run(arguments(output: "whole", extra: ["--checkpoint-every", "3"] + extra, scheduler: scheduler))
        XCTAssertEqual(whole.status, 0, whole.stderr, file: file, line: line)

        let killed = workDirectory.appendingPathComponent("killed")
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments(output: "killed", extra: ["--checkpoint-every", "3"] + extra, scheduler: scheduler)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let state = killed.appendingPathComponent("checkpoint/trainer.json")
        let deadline = Date().addingTimeInterval(300)
        while !FileManager.default.fileExists(atPath: state.path) && process.isRunning && Date() < deadline {
            usleep(2_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "the run must be killed mid-way, not finish", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: killed.appendingPathComponent("model.safetensors").path),
                       file: file, line: line)

        let resumed = try CLI.run(["train", "--resume", "--output", killed.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr, file: file, line: line)
        let expected = try Data(contentsOf: workDirectory.appendingPathComponent("whole/model.safetensors"))
        XCTAssertEqual(try Data(contentsOf: killed.appendingPathComponent("model.safetensors")), expected, file: file, line: line)
        let wholeLosses = try TrainingLog(contentsOf: workDirectory.appendingPathComponent("whole/metrics.csv")).entries
        let resumedLosses = try TrainingLog(contentsOf: killed.appendingPathComponent("metrics.csv")).entries
        XCTAssertEqual(resumedLosses.map(\.step), Array(1...20), "no step logged twice or lost", file: file, line: line)
        XCTAssertEqual(resumedLosses.map(\.loss), wholeLosses.map(\.loss), file: file, line: line)
    }

    /// --init starts from a checkpoint's backbone: at an LR of 1e-9 the run ends where the checkpoint was (its
    /// convolutions unchanged to 1e-6), and a checkpoint of another embedding size is refused by name.
    func testInitStartsFromACheckpointsBackbone() throws {
        let scratch = try CLI.run(arguments(output: "scratch"))
        XCTAssertEqual(scratch.status, 0, scratch.stderr)
        let model = workDirectory.appendingPathComponent("scratch/model.safetensors")
        let tuned = try CLI.run(arguments(output: "tuned", extra: ["--init", model.path, "--lr", "1e-9"]))
        XCTAssertEqual(tuned.status, 0, tuned.stderr)
        let log = try String(contentsOf: workDirectory.appendingPathComponent("tuned/training.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("backbone initialised from \(model.path)"), log)
        let start = try SafeTensors.read(contentsOf: model)["conv1.weight"]!.floats()
        let end = try SafeTensors.read(contentsOf: workDirectory.appendingPathComponent("tuned/model.safetensors"))["conv1.weight"]!.floats()
        XCTAssertLessThan(zip(start, end).map { abs($0 - $1) }.max()!, 1e-6)

        let wrong = try CLI.run(arguments(output: "wrong", extra: ["--init", model.path, "--embedding-size", "64"]))
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("\(model.path): --init: the checkpoint's embedding size is 32, this run's is 64"), wrong.stderr)
    }

    /// stop_after_decays makes num_epoch a ceiling: with a threshold every response is below, window 4 and the
    /// default patience 8, MHLR's first decision comes after step 2 x 4 + 8 + 1 = 17; with K = 0 it ends the
    /// run there, cleanly (checkpoint, model, report) and saying why. A resumed stopped run trains no further.
    func testStopAfterDecaysEndsTheRunAtAPlateau() throws {
        let run = try CLI.run(arguments(output: "auto", extra: ["--threshold", "100", "--stop-after-decays", "0"]))
        XCTAssertEqual(run.status, 0, run.stderr)
        let output = workDirectory.appendingPathComponent("auto")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("summary.json"))) as! [String: Any]
        XCTAssertEqual(summary["steps"] as? Int, 17)
        XCTAssertEqual(try XCTUnwrap(summary["epochs"] as? Double), 1.7, accuracy: 1e-12)
        let reason = try XCTUnwrap(summary["stopReason"] as? String)
        XCTAssertTrue(reason.hasPrefix("step 17 (epoch 1.70 of at most 2): stopping, MHLR has decayed the LR 0 times"), reason)
        let log = try String(contentsOf: output.appendingPathComponent("training.log"), encoding: .utf8)
        XCTAssertTrue(log.contains(reason), log)
        XCTAssertTrue(log.contains("[synth_val][17]XNorm"), "the last step is verified")
        for name in ["model.safetensors", "report.md", "checkpoint/trainer.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: output.appendingPathComponent(name).path), name)
        }
        XCTAssertEqual(try TrainingLog(contentsOf: output.appendingPathComponent("metrics.csv")).entries.count, 17)
        let report = try String(contentsOf: output.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(report.contains(reason), "the report says why the run ended")
        let resumed = try CLI.run(["train", "--resume", "--output", output.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try TrainingLog(contentsOf: output.appendingPathComponent("metrics.csv")).entries.count, 17)
    }

    /// The trainer's fault injection makes step 7's loss NaN: the run stops there with the checkpoint of
    /// step 6 intact, or, with --skip-nonfinite, skips that one step and finishes.
    func testNonFiniteLossStopsClearlyOrIsSkipped() throws {
        let fault = ["HAARFACE_FAULT_NONFINITE_STEP": "7"]
        let stopped = try CLI.run(arguments(output: "nan", extra: ["--num-epoch", "1", "--checkpoint-every", "3"]),
                                  environment: fault)
        XCTAssertNotEqual(stopped.status, 0)
        XCTAssertTrue(stopped.stderr.contains("step 7 (epoch 0): the loss is nan, not a number; stopped before updating the weights"),
                      stopped.stderr)
        let state = workDirectory.appendingPathComponent("nan/checkpoint/trainer.json")
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as! [String: Any]
        XCTAssertEqual(saved["globalStep"] as? Int, 6, "the last good checkpoint is kept")
        XCTAssertFalse(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("nan/model.safetensors").path))

        let skipped = try CLI.run(arguments(output: "skip", extra: ["--num-epoch", "1", "--skip-nonfinite"]), environment: fault)
        XCTAssertEqual(skipped.status, 0, skipped.stderr)
        let json = skipped.stdout.components(separatedBy: "\n{").last.map { "{" + $0 } ?? ""
        let summary = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        XCTAssertEqual(summary["skippedNonFiniteSteps"] as? Int, 1)
        XCTAssertEqual(summary["steps"] as? Int, 10)
        let log = try String(contentsOf: workDirectory.appendingPathComponent("skip/training.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("-step 7: the loss is nan; step skipped (1 so far)"), log)
    }

    func testBadTrainingInputIsAClearError() throws {
        let missing = try CLI.run(["train", "--rec", "/nonexistent/data", "--output", workDirectory.path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/data: no such file or folder"), missing.stderr)
        let badNetwork = try CLI.run(["train", "--network", "r42", "--output", workDirectory.path])
        XCTAssertNotEqual(badNetwork.status, 0)
        XCTAssertTrue(badNetwork.stderr.contains("network: expected r18, r34, r50, r100, r200 or mbf, found 'r42'"), badNetwork.stderr)
        let noCheckpoint = try CLI.run(["train", "--resume", "--output", workDirectory.path])
        XCTAssertNotEqual(noCheckpoint.status, 0)
        XCTAssertTrue(noCheckpoint.stderr.contains("--resume found no checkpoint"), noCheckpoint.stderr)
    }
}

/// Each setting is declared once (`TrainingConfig.settings`) and reaches the run from the config file, the
/// flags and `--resume` alike: the cases that used to lose a setting, run through the binary.
final class TrainSettingsTests: XCTestCase {
    private var workDirectory: URL!

    override func setUpWithError() throws {
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("settings-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: workDirectory)
    }

    private func savedConfig(_ output: URL) throws -> [String: Any] {
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: output.appendingPathComponent("checkpoint/trainer.json")))
        return try XCTUnwrap((state as? [String: Any])?["config"] as? [String: Any])
    }

    /// A run stopped at step 7 (fault injection; checkpoint at step 6) resumes with a setting that may change
    /// (frequent: a log line every step from then on) and refuses one that may not, naming it.
    func testResumeAppliesSafeSettingsAndRejectsFixedOnesByName() throws {
        let output = workDirectory.appendingPathComponent("run")
        let stopped = try CLI.run(TinyTraining.arguments(output: output, extra: ["--num-epoch", "1", "--checkpoint-every", "3"]),
                                  environment: ["HAARFACE_FAULT_NONFINITE_STEP": "7"])
        XCTAssertNotEqual(stopped.status, 0)

        let fixed = try CLI.run(["train", "--resume", "--output", output.path, "--batch-size", "16"])
        XCTAssertNotEqual(fixed.status, 0)
        XCTAssertTrue(fixed.stderr.contains("trainer.json: batch_size: the run was trained with 8, not 16; a resumed run keeps it"),
                      fixed.stderr)
        let scheduler = try CLI.run(["train", "--resume", "--output", output.path, "--scheduler", "poly"])
        XCTAssertNotEqual(scheduler.status, 0)
        XCTAssertTrue(scheduler.stderr.contains("scheduler: the run was trained with {"), scheduler.stderr)

        let resumed = try CLI.run(["train", "--resume", "--output", output.path, "--frequent", "1", "--window", "4"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let log = try TrainingLog(contentsOf: output.appendingPathComponent("training.log"))
        XCTAssertEqual(log.entries.map(\.step), [4, 6, 8, 9, 10], "every 2 steps to the checkpoint, then every step (the first due step starts the speed clock)")
        XCTAssertEqual(try savedConfig(output)["frequent"] as? Int, 1)
        XCTAssertEqual(try savedConfig(output)["batch_size"] as? Int, 8)
    }

    /// `--scheduler` replaces a config file's scheduler; a parameter alone changes it, and one that does not
    /// apply to it is an error.
    func testSchedulerFlagsOverrideTheConfigFile() throws {
        let config = workDirectory.appendingPathComponent("c.yaml")
        try """
            rec: \(TinyTraining.dataDirectory.path)
            val_targets: [synth_val]
            image_size: 16
            embedding_size: 32
            batch_size: 40
            num_epoch: 1
            num_workers: 1
            scheduler: {name: poly, power: 2}
            """.write(to: config, atomically: true, encoding: .utf8)
        let mhlr = workDirectory.appendingPathComponent("mhlr")
        let replaced = try CLI.run(["train", "--config", config.path, "--scheduler", "mhlr", "--window", "3", "--output", mhlr.path])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        let scheduler = try XCTUnwrap(try savedConfig(mhlr)["scheduler"] as? [String: Any])
        XCTAssertEqual(scheduler["name"] as? String, "mhlr")
        XCTAssertEqual(scheduler["window"] as? Int, 3)
        XCTAssertNil(scheduler["power"], "a new scheduler starts from its own defaults")

        let poly = workDirectory.appendingPathComponent("poly")
        let changed = try CLI.run(["train", "--config", config.path, "--warmup-steps", "1", "--output", poly.path])
        XCTAssertEqual(changed.status, 0, changed.stderr)
        let polySpec = try XCTUnwrap(try savedConfig(poly)["scheduler"] as? [String: Any])
        XCTAssertEqual(polySpec["name"] as? String, "poly")
        XCTAssertEqual(polySpec["power"] as? Double, 2)
        XCTAssertEqual(polySpec["warmup_steps"] as? Int, 1)

        let wrong = try CLI.run(["train", "--config", config.path, "--window", "3", "--output", workDirectory.path])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("scheduler: window applies to mhlr, not to poly"), wrong.stderr)
    }

    /// With no --output, a run and a bare --resume use the same folder (work_dirs/haarface), with or without --rec.
    func testBareResumeFindsTheRunItContinues() throws {
        let arguments = TinyTraining.arguments(output: workDirectory, extra: ["--num-epoch", "1", "--checkpoint-every", "3"])
        let withoutOutput = Array(arguments.dropLast(arguments.count - arguments.firstIndex(of: "--output")!))
            + ["--num-epoch", "1", "--checkpoint-every", "3"]
        let stopped = try CLI.run(withoutOutput, environment: ["HAARFACE_FAULT_NONFINITE_STEP": "7"], directory: workDirectory)
        XCTAssertNotEqual(stopped.status, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("work_dirs/haarface/checkpoint").path))
        let resumed = try CLI.run(["train", "--resume"], directory: workDirectory)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("work_dirs/haarface/model.safetensors").path))
    }

    func testBadSettingsAreNamed() throws {
        let cases: [([String], String)] = [
            (["--num-workers", "0"], "num_workers: must be at least 1"),
            (["--batch-sise", "8"], "unknown flag '--batch-sise'"),
            (["--batch-size", "eight"], "--batch-size: 'eight' is not <int>"),
            (["--batch-size"], "--batch-size needs a value <int>"),
            (["--margin-list", "1,0.5"], "margin_list: expected three numbers"),
            (["--fp16=maybe"], "--fp16: 'maybe' is not true or false"),
            (["--no-tensorboard=true"], "--no-tensorboard takes no value (--tensorboard=true sets one)"),
        ]
        for (flags, message) in cases {
            let run = try CLI.run(["train", "--output", workDirectory.path] + flags)
            XCTAssertNotEqual(run.status, 0, "\(flags)")
            XCTAssertTrue(run.stderr.contains(message), "\(message) in: \(run.stderr)")
        }
        let help = try CLI.run(["train", "--help"])
        XCTAssertTrue(help.stdout.contains("--batch-size <int>") && help.stdout.contains("--val-targets <text,...>"), help.stdout)
        XCTAssertTrue(help.stdout.contains("\n  --no-tensorboard\n") && help.stdout.contains("\n  --fp16\n"),
                      "a switch that is on by default is listed by the flag that turns it off: \(help.stdout)")
    }

    /// `--no-tensorboard` writes no event file (a run writes one by default: testTrainingWritesArcfaceTorchOutputsAndAReport);
    /// a resumed run keeps it off unless `--tensorboard` turns it on again, as a logging setting may change on resume.
    /// Stopped at step 5 (checkpoint at 3), resumed and stopped at 8 (checkpoint at 6), resumed to the end.
    func testNoTensorBoardWritesNoEventFile() throws {
        let output = workDirectory.appendingPathComponent("run")
        let tensorBoard = output.appendingPathComponent("tensorboard")
        let first = try CLI.run(TinyTraining.arguments(output: output, extra: ["--num-epoch", "1", "--checkpoint-every", "3",
                                                                             "--no-tensorboard"]),
                                environment: ["HAARFACE_FAULT_NONFINITE_STEP": "5"])
        XCTAssertNotEqual(first.status, 0)
        let second = try CLI.run(["train", "--resume", "--output", output.path], environment: ["HAARFACE_FAULT_NONFINITE_STEP": "8"])
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.stderr.contains("step 8"), second.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tensorBoard.path))
        XCTAssertEqual(try savedConfig(output)["tensorboard"] as? Bool, false)

        let last = try CLI.run(["train", "--resume", "--output", output.path, "--tensorboard"])
        XCTAssertEqual(last.status, 0, last.stderr)
        XCTAssertEqual(try savedConfig(output)["tensorboard"] as? Bool, true)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tensorBoard.path).count, 1)
    }
}
