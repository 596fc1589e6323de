import FaceData
import Foundation
import MHLR
import TensorFixtures
import XCTest
@testable import Training

/// What `<output>/tensorboard` holds, as TensorBoard's own reader sees it: scripts/interop/read_tensorboard.py
/// (tensorboard 2.21.0: its record reader, which checks every CRC, then EventAccumulator keeping every event and
/// not purging orphans, so that a step written twice reads twice).
struct TensorBoardContents: Decodable {
    struct File: Decodable {
        var name: String
        var records: Int
        var file_version: String?
    }

    var files: [File]
    /// tag -> [[step, value]], the value the float32 TensorBoard read.
    var scalars: [String: [[Double]]]

    static func read(_ folder: URL, python: String, file: StaticString = #filePath, line: UInt = #line) throws -> TensorBoardContents {
        let script = repositoryRoot.appendingPathComponent("scripts/interop/read_tensorboard.py").path
        let run = try runProcess(python, [script, folder.path])
        guard run.status == 0 else {
            XCTFail("read_tensorboard.py failed: \(run.output)", file: file, line: line)
            throw XCTSkip("failed above")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(TensorBoardContents.self, from: Data(run.output.utf8))
    }

    /// A tag's (step, value) pairs in the file's order.
    func series(_ tag: String) -> [Scalar] {
        (scalars[tag] ?? []).map { Scalar(step: Int($0[0]), value: Float($0[1])) }
    }
}

struct Scalar: Equatable, CustomStringConvertible {
    var step: Int
    var value: Float
    var description: String { "(\(step), \(value))" }
}

/// The trainer's TensorBoard log on a tiny real run: IResNet-18 at 16x16, 10 synthetic identities x 8 images,
/// batch 8, 2 epochs of 10 steps, MHLR with a 4-step window, verification on 40 held-out pairs at steps 10 and 20.
final class TensorBoardLogTests: XCTestCase {
    /// The data, and the uninterrupted run two tests read, made once per test process.
    static let shared = FileManager.default.temporaryDirectory.appendingPathComponent("tensorboard-\(UUID().uuidString)")
    static let data: URL = {
        let url = shared.appendingPathComponent("data")
        try! TrainingData.ensureSynthetic(SynthConfig(identities: 10, imagesPerIdentity: 8, imageSize: 16, seed: 5, pairs: 40),
                                          in: url) { _ in }
        return url
    }()
    private static var uninterrupted: TrainingConfig?

    private var workDirectory: URL!

    override func setUpWithError() throws {
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("tensorboard-run-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: workDirectory)
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: shared)
    }

    private func config(_ output: String, in directory: URL? = nil) -> TrainingConfig {
        var config = TrainingConfig()
        config.rec = Self.data.path
        config.valTargets = [SynthWriter.verificationName]
        config.network = "r18"
        config.imageSize = 16
        config.embeddingSize = 32
        config.batchSize = 8
        config.numEpoch = 2
        config.frequent = 2
        config.verbose = 10
        config.numWorkers = 1
        config.checkpointEvery = 4
        config.scheduler.window = 4
        config.output = (directory ?? workDirectory).appendingPathComponent(output).path
        return config
    }

    private func train(_ config: TrainingConfig, resume: Bool = false, nonFiniteLossAt step: Int? = nil) throws -> TrainingSummary {
        var options = Trainer.Options()
        options.showProgress = false
        options.echoLog = false
        options.resume = resume
        options.injectedNonFiniteStep = step
        return try Trainer(config: config, synthetic: SynthConfig(), options: options).run()
    }

    /// The 20 steps without a stop, trained once.
    private func uninterruptedRun() throws -> TrainingConfig {
        if let config = Self.uninterrupted { return config }
        let config = config("whole", in: Self.shared)
        XCTAssertEqual(try train(config).steps, 20)
        Self.uninterrupted = config
        return config
    }

    private func tensorBoardFolder(_ config: TrainingConfig) -> URL {
        URL(fileURLWithPath: config.output).appendingPathComponent(TensorBoardLog.folder)
    }

    /// What the run's own files say each tag should hold: metrics.csv (loss, the step's LR, images/s), the
    /// final checkpoint's schedule trace (the Haar response after each step's loss: the trace's point for step
    /// s + 1) and summary.json's verifications.
    private func expectedScalars(_ config: TrainingConfig) throws -> [String: [Scalar]] {
        let output = URL(fileURLWithPath: config.output)
        let rows = try MetricsRow.read(output.appendingPathComponent("metrics.csv"))
        let state = try Trainer.savedState(in: output).state
        XCTAssertEqual(state.trace.stride, 1, "the trace has every step")
        let summary = try JSONDecoder().decode(TrainingSummary.self,
                                               from: Data(contentsOf: output.appendingPathComponent(Trainer.summaryFile)))
        var expected: [String: [Scalar]] = [
            "loss": rows.map { Scalar(step: $0.step, value: Float($0.loss)) },
            "learning_rate": rows.map { Scalar(step: $0.step, value: Float($0.learningRate)) },
            "images_per_second": rows.map { Scalar(step: $0.step, value: Float($0.imagesPerSecond)) },
            "mhlr/haar_response": state.trace.points.compactMap { point in
                point.response.map { Scalar(step: point.step - 1, value: Float($0)) }
            },
        ]
        for target in config.valTargets {
            expected[target] = summary.verifications.filter { $0.target == target }.map {
                Scalar(step: $0.step, value: Float($0.accuracy))
            }
        }
        return expected
    }

    private func assertScalars(_ contents: TensorBoardContents, _ expected: [String: [Scalar]], tags: [String]? = nil,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(contents.scalars.keys), Set(expected.keys), "tags", file: file, line: line)
        for tag in tags ?? Array(expected.keys) {
            XCTAssertEqual(contents.series(tag), expected[tag], tag, file: file, line: line)
        }
    }

    /// Every scalar of the run, read back by TensorBoard, is the float32 of what the run wrote elsewhere.
    func testEventFileHoldsEveryScalarOfTheRun() throws {
        let python = try requireInteropPython("TensorBoard reads the trainer's event file", modules: ["tensorboard"])
        let config = try uninterruptedRun()
        let contents = try TensorBoardContents.read(tensorBoardFolder(config), python: python)
        XCTAssertEqual(contents.files.count, 1)
        XCTAssertEqual(contents.files.first?.file_version, "brain.Event:2")
        XCTAssertEqual(contents.files.first?.records, 1 + 20 + 2, "the file version, one event per step, one per verification")
        XCTAssertTrue(contents.files.first?.name.hasPrefix("events.out.tfevents.") == true)

        let expected = try expectedScalars(config)
        XCTAssertEqual(expected["loss"]?.map(\.step), Array(1...20))
        XCTAssertEqual(expected["synth_val"]?.map(\.step), [10, 20])
        // The box average is defined from the 5th loss, the Haar window of 4 averages full from the 9th
        // (HaarDetector: H starts at loss index 2m, 0-based).
        XCTAssertEqual(expected["mhlr/haar_response"]?.map(\.step), Array(9...20))
        assertScalars(contents, expected)
    }

    /// A run stopped at step 7 (its checkpoint at step 4; steps 5 and 6 already in the event file) and resumed
    /// writes the scalars of an uninterrupted run, each step once: the file is cut back to the checkpoint.
    func testResumedRunWritesTheScalarsOfAnUninterruptedRun() throws {
        let python = try requireInteropPython("a resumed run's event file reads as an uninterrupted run's", modules: ["tensorboard"])
        let whole = try uninterruptedRun(), stopped = config("stopped")
        XCTAssertThrowsError(try train(stopped, nonFiniteLossAt: 7)) {
            XCTAssertTrue("\($0)".hasPrefix("step 7 (epoch 0): the loss is nan"), "\($0)")
        }
        let beforeResume = try TensorBoardContents.read(tensorBoardFolder(stopped), python: python)
        XCTAssertEqual(beforeResume.series("loss").map(\.step), Array(1...6), "steps after the checkpoint were written")

        _ = try train(stopped, resume: true)
        let resumed = try TensorBoardContents.read(tensorBoardFolder(stopped), python: python)
        XCTAssertEqual(resumed.files.count, 1, "the same file, continued")
        XCTAssertEqual(resumed.files.first?.name, beforeResume.files.first?.name)
        XCTAssertEqual(resumed.files.first?.records, 1 + 20 + 2)
        let uninterrupted = try expectedScalars(whole)
        // The speeds are this run's own (the resumed run's metrics.csv); every other scalar is the whole run's.
        assertScalars(resumed, uninterrupted, tags: ["loss", "learning_rate", "mhlr/haar_response", "synth_val"])
        XCTAssertEqual(resumed.series("images_per_second"), try expectedScalars(stopped)["images_per_second"])
        XCTAssertEqual(resumed.series("images_per_second").map(\.step), Array(1...20))
    }

    /// A checkpoint from before event files (no `tensorBoard` in trainer.json) still resumes: the run goes on
    /// with a new event file from the checkpoint's step (one epoch here: stopped at 7, resumed from 4 to 10).
    func testCheckpointWithoutEventFileStateResumesIntoANewFile() throws {
        let python = try requireInteropPython("TensorBoard reads the new file of a resumed old checkpoint", modules: ["tensorboard"])
        var config = config("old")
        config.numEpoch = 1
        XCTAssertThrowsError(try train(config, nonFiniteLossAt: 7))
        let stateURL = URL(fileURLWithPath: config.output).appendingPathComponent("checkpoint/trainer.json")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: stateURL)) as? [String: Any])
        XCTAssertNotNil(object.removeValue(forKey: "tensorBoard"))
        try JSONSerialization.data(withJSONObject: object).write(to: stateURL)
        // Checkpoints from before event files are from before manifests too (a manifest would refuse the edit).
        try FileManager.default.removeItem(at: stateURL.deletingLastPathComponent().appendingPathComponent("manifest.txt"))
        try FileManager.default.removeItem(at: tensorBoardFolder(config))

        _ = try train(config, resume: true)
        let contents = try TensorBoardContents.read(tensorBoardFolder(config), python: python)
        XCTAssertEqual(contents.series("loss").map(\.step), Array(5...10))
        XCTAssertEqual(contents.series("loss"), try expectedScalars(config)["loss"].map { Array($0.dropFirst(4)) })
    }

    /// With `tensorboard: false` there is no log folder; the setting may change on resume, as logging may.
    func testTurnedOffWritesNoEventFile() throws {
        var config = config("off")
        config.numEpoch = 1
        config.tensorboard = false
        XCTAssertThrowsError(try train(config, nonFiniteLossAt: 7))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tensorBoardFolder(config).path))
        config.tensorboard = true
        _ = try train(config, resume: true)
        let files = try FileManager.default.contentsOfDirectory(atPath: tensorBoardFolder(config).path)
        XCTAssertEqual(files.count, 1)
        XCTAssertTrue(try Trainer.savedConfig(in: URL(fileURLWithPath: config.output)).tensorboard)
    }
}
