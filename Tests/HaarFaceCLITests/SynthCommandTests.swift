import Foundation
import XCTest

final class SynthCommandTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("synth-cli-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func synth(_ output: String, _ extra: [String] = []) throws -> CLIRun {
        try CLI.run(["synth", "--identities", "3", "--images-per-identity", "2", "--image-size", "32",
                     "--pairs", "20", "--output", scratch.appendingPathComponent(output).path] + extra)
    }

    /// Every file below `folder`, relative path -> bytes.
    private func contents(_ folder: String) throws -> [String: Data] {
        let root = scratch.appendingPathComponent(folder)
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root.path)!
        while let path = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let url = root.appendingPathComponent(path)
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                files[path] = try Data(contentsOf: url)
            }
        }
        return files
    }

    func testFolderLayoutCountsAndDeterminism() throws {
        let first = try synth("a", ["--seed", "5"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("wrote 6 training images of 3 identities and 40 pair images (20 pairs)"),
                      first.stdout)
        let files = try contents("a")
        let training = files.keys.filter { $0.hasPrefix("train/") }.sorted()
        XCTAssertEqual(training, ["train/0/0.jpg", "train/0/1.jpg", "train/1/0.jpg", "train/1/1.jpg",
                                  "train/2/0.jpg", "train/2/1.jpg"])
        let pairImages = files.keys.filter { $0.hasPrefix("synth_val/imgs/") }
        XCTAssertEqual(Set(pairImages), Set((0..<40).map { "synth_val/imgs/\($0).jpg" }))
        for name in training + pairImages {
            XCTAssertEqual(Array(files[name]!.prefix(2)), [0xFF, 0xD8], "\(name) is a JPEG")
        }
        XCTAssertNotNil(files["synth_val.bin"])
        XCTAssertNotNil(files["synth.json"])
        // NPY v1.0: magic, version, little-endian UInt16 header length at bytes 8-9, the header, then
        // 20 one-byte booleans, half of them true.
        let labels = Array(try XCTUnwrap(files["synth_val/pair_label.npy"]))
        let dataStart = 10 + Int(labels[8]) + Int(labels[9]) << 8
        XCTAssertEqual(labels.count, dataStart + 20)
        XCTAssertEqual(labels.suffix(20).filter { $0 == 1 }.count, 10)
        XCTAssertTrue(String(decoding: labels.prefix(dataStart), as: UTF8.self).contains("'shape': (20,)"))

        XCTAssertEqual(try synth("b", ["--seed", "5"]).status, 0)
        XCTAssertEqual(try contents("b"), files, "same seed, byte-identical files")

        XCTAssertEqual(try synth("c", ["--seed", "6"]).status, 0)
        let other = try contents("c")
        XCTAssertEqual(Set(other.keys), Set(files.keys))
        for name in training + pairImages { XCTAssertNotEqual(other[name], files[name], name) }
    }

    func testRecFormatIsDeterministic() throws {
        XCTAssertEqual(try synth("r1", ["--format", "rec"]).status, 0)
        XCTAssertEqual(try synth("r2", ["--format", "rec"]).status, 0)
        let files = try contents("r1")
        XCTAssertEqual(Set(files.keys.filter { !$0.hasPrefix("synth_val/imgs/") }),
                       ["train.rec", "train.idx", "synth_val.bin", "synth_val/pair_label.npy", "synth.json"])
        XCTAssertEqual(try contents("r2"), files)
        // 6 images + header record + 3 identity records: one .idx line each.
        let index = String(decoding: files["train.idx"]!, as: UTF8.self)
        XCTAssertEqual(index.split(separator: "\n").count, 10, index)
    }

    func testBaselinePrintsTenFoldAccuracy() throws {
        let run = try synth("base", ["--baseline"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("pixel baseline: accuracy "), run.stdout)
        XCTAssertTrue(run.stdout.contains("(10 folds, 20 pairs)"), run.stdout)
        let folds = run.stdout.split(separator: "\n").first { $0.hasPrefix("fold accuracies: ") }
        XCTAssertEqual(folds?.split(separator: " ").count, 12, run.stdout)
    }

    func testBadFlagsAreRejectedWithClearErrors() throws {
        let cases: [([String], String)] = [
            (["--pairs", "15"], "--pairs must be 0 or a positive multiple of 20"),
            (["--image-size", "8"], "--image-size must be between 16 and 1024 pixels; got 8"),
            (["--identities", "0"], "--identities must be at least 1; got 0"),
            (["--difficulty", "9"], "--difficulty must be between 0 and 3; got 9.0"),
            (["--format", "png"], "png"),
            (["--pairs", "0", "--baseline"], "--baseline needs verification pairs"),
        ]
        for (flags, message) in cases {
            let run = try CLI.run(["synth", "--output", scratch.appendingPathComponent("bad").path] + flags)
            XCTAssertNotEqual(run.status, 0, "\(flags)")
            XCTAssertTrue(run.stderr.contains(message), "\(flags): \(run.stderr)")
        }
        let missing = try CLI.run(["synth"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("--output"), missing.stderr)

        // A non-empty output folder is never overwritten.
        let occupied = scratch.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: occupied, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: occupied.appendingPathComponent("notes.txt"))
        let run = try synth("occupied")
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("\(occupied.path): the output folder must be empty"), run.stderr)
        XCTAssertEqual(try String(contentsOf: occupied.appendingPathComponent("notes.txt"), encoding: .utf8), "keep")
    }
}
