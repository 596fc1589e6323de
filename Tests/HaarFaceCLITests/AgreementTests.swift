import FaceData
import Foundation
import NN
import XCTest

/// One answer to each question, whichever command asks it: the commands a new user tries on the same path
/// classify it alike (`DataSetLocation`), and list the same networks (`Network`).
final class AgreementTests: XCTestCase {
    private var workDirectory: URL!
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    override func setUpWithError() throws {
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("agree-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: workDirectory)
    }

    private func json(_ text: String) throws -> [String: Any] {
        let start = try XCTUnwrap(text.range(of: "{"), text).lowerBound
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text[start...].utf8)) as? [String: Any], text)
    }

    /// The paths a new user might hand any command: each kind of set, and each way of being wrong.
    private func paths() throws -> [(name: String, url: URL)] {
        let data = TinyTraining.dataDirectory
        let jpeg = try Data(contentsOf: repository.appendingPathComponent("Tests/FaceDataTests/Fixtures/jpeg_noise.jpg"))
        let faces = workDirectory.appendingPathComponent("faces")
        for index in 0..<6 {
            let person = faces.appendingPathComponent("p\(index % 2)")
            try FileManager.default.createDirectory(at: person, withIntermediateDirectories: true)
            try jpeg.write(to: person.appendingPathComponent("\(index).jpg"))
        }
        let empty = workDirectory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let loose = workDirectory.appendingPathComponent("loose")
        try FileManager.default.createDirectory(at: loose, withIntermediateDirectories: true)
        try jpeg.write(to: loose.appendingPathComponent("0.jpg"))
        let notes = workDirectory.appendingPathComponent("notes.txt")
        try Data("not a data set\n".utf8).write(to: notes)
        return [("RecordIO folder", data), (".rec file", data.appendingPathComponent("train.rec")),
                ("image folder", faces), (".bin", data.appendingPathComponent("synth_val.bin")),
                ("FastFace folder", data.appendingPathComponent("synth_val")),
                ("missing path", workDirectory.appendingPathComponent("none.bin")), ("empty folder", empty),
                ("folder of loose images", loose), ("file of the wrong kind", notes)]
    }

    /// `data inspect`, `train --rec`, `eval --bin` and `bench-data --images` on each path: the kind
    /// `DataSetLocation.locate` gives, or its error, word for word; a set of the wrong role is refused by each
    /// command with the same message.
    func testCommandsClassifyEachPathAlike() throws {
        let checkpoint = workDirectory.appendingPathComponent("model.safetensors")
        try FileManager.default.createSymbolicLink(at: checkpoint, withDestinationURL: TinyTraining.checkpoint)
        for (name, url) in try paths() {
            let inspect = try CLI.run(["data", "inspect", url.path])
            // One step of a tiny model, a batch of the whole set (the count inspect gives, else any).
            let summary = try? JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
            let count = summary?["images"] as? Int ?? 2
            let train = try CLI.run(["train", "--rec", url.path, "--network", "r18", "--image-size", "16", "--embedding-size", "8",
                                     "--batch-size", "\(count)", "--num-epoch", "1", "--num-workers", "1",
                                     "--output", workDirectory.appendingPathComponent("train-\(UUID().uuidString)").path])
            let eval = try CLI.run(["eval", "--checkpoint", checkpoint.path, "--bin", url.path])
            let bench = try CLI.run(["bench-data", "--images", url.path, "--batch-size", "2", "--epochs", "1", "--size", "16"])
            let location: DataSetLocation
            do {
                location = try DataSetLocation.locate(url)
            } catch {
                for (command, run) in [("data inspect", inspect), ("train", train), ("eval", eval), ("bench-data", bench)] {
                    XCTAssertEqual(run.status, 1, "\(name), \(command): \(run.stderr)")
                    XCTAssertTrue(run.stderr.contains("Error: \(error)"), "\(name), \(command): expected '\(error)' in \(run.stderr)")
                }
                continue
            }
            XCTAssertEqual(inspect.status, 0, "\(name): \(inspect.stderr)")
            XCTAssertEqual(try json(inspect.stdout)["kind"] as? String, location.kind, name)
            let images = try json(inspect.stdout)["images"] as? Int
            if location.isTrainingSet {
                // train's log describes the source it opened.
                let identities = try XCTUnwrap(try json(inspect.stdout)["identities"] as? Int)
                XCTAssertEqual(train.status, 0, "\(name), train: \(train.stderr)")
                XCTAssertTrue(train.stdout.contains("data: \(location): \(images!) images of \(identities) identities; 1 steps per epoch"),
                              "\(name), train: \(train.stdout)")
                XCTAssertEqual(bench.status, 0, "\(name), bench-data: \(bench.stderr)")
                XCTAssertEqual(try json(bench.stdout)["kind"] as? String, location.kind, name)
                let wrongRole = "\(try XCTUnwrap(Result { try location.verificationSet() }.failure))"
                XCTAssertTrue(wrongRole.contains("a training set (\(location.kind)), not a verification set"), wrongRole)
                XCTAssertEqual(eval.status, 1, "\(name), eval: \(eval.stderr)")
                XCTAssertTrue(eval.stderr.contains("Error: \(wrongRole)"), "\(name), eval: \(eval.stderr)")
            } else {
                let pairs = try XCTUnwrap(try json(inspect.stdout)["pairs"] as? [String: Int])
                XCTAssertEqual(eval.status, 0, "\(name), eval: \(eval.stderr)")
                let sets = try XCTUnwrap(try json(eval.stdout)["sets"] as? [[String: Any]])
                XCTAssertEqual(sets.first?["pairs"] as? Int, pairs["same"]! + pairs["different"]!, name)
                XCTAssertEqual(sets.first?["set"] as? String, "synth_val", name)
                let wrongRole = "\(try XCTUnwrap(Result { try location.trainingSource() }.failure))"
                XCTAssertTrue(wrongRole.contains("a verification set (\(location.kind)), not a training set"), wrongRole)
                for (command, run) in [("train", train), ("bench-data", bench)] {
                    XCTAssertEqual(run.status, 1, "\(name), \(command): \(run.stderr)")
                    XCTAssertTrue(run.stderr.contains("Error: \(wrongRole)"), "\(name), \(command): \(run.stderr)")
                }
            }
        }
    }

    /// `Network` lists the backbones; the flags' help, the config check's message and a checkpoint that does
    /// not name its network all list the same ones, in the same order, and `bench` builds each.
    func testHelpAndErrorsListTheSameNetworks() throws {
        XCTAssertEqual(Network.names, ["r18", "r34", "r50", "r100", "r200", "mbf"])
        let sentence = "r18, r34, r50, r100, r200 or mbf"
        XCTAssertEqual(Network.nameList, sentence)
        func flat(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        let trainHelp = try CLI.run(["train", "--help"])
        XCTAssertTrue(flat(trainHelp.stdout).contains("Backbone: \(sentence)."), trainHelp.stdout)
        let evalHelp = try CLI.run(["eval", "--help"])
        XCTAssertTrue(flat(evalHelp.stdout).contains("--network <network> \(sentence): needed when"), evalHelp.stdout)
        let benchHelp = try CLI.run(["bench", "train", "--help"])
        XCTAssertTrue(flat(benchHelp.stdout).contains("Backbone: \(sentence)."), benchHelp.stdout)

        let badNetwork = try CLI.run(["train", "--network", "r42", "--output", workDirectory.path])
        XCTAssertTrue(badNetwork.stderr.contains("network: expected \(sentence), found 'r42'"), badNetwork.stderr)
        let badModel = try CLI.run(["bench", "train", "--model", "r42"])
        XCTAssertNotEqual(badModel.status, 0)
        for network in Network.names { XCTAssertTrue(badModel.stderr.contains(network), badModel.stderr) }

        // A safetensors file with an unknown network's keys and no metadata: the hint lists the same names.
        let unknown = workDirectory.appendingPathComponent("unknown.safetensors")
        try SafeTensors(tensors: ["features.weight": SafeTensor(float32: [1, 1, 1, 1], shape: [4])]).write(to: unknown)
        let run = try CLI.run(["embed", "--checkpoint", unknown.path, "x.jpg", "--output", workDirectory.appendingPathComponent("e.npy").path])
        XCTAssertTrue(run.stderr.contains("pass --network \(Network.names.joined(separator: "|"))"), run.stderr)

        // Every IResNet's stage blocks come from the one list.
        XCTAssertEqual(IResNet.stageBlocks.keys.sorted().map { "r\($0)" }, Network.names.filter { $0 != "mbf" })
        for network in Network.allCases {
            XCTAssertEqual(network.iresnetDepth.flatMap { IResNet.stageBlocks[$0] }, network.stageBlocks, network.rawValue)
        }
    }
}

private extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
