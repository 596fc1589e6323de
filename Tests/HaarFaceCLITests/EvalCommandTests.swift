import FaceData
import Foundation
import XCTest

/// `haarface eval`, `embed` and `verify` on the tiny set's held-out pairs with a model the trainer made
/// (TinyTraining: IResNet-18 at 16x16, embedding 32, after 2 steps). Expected values are recomputed here from
/// `embed`'s output with insightface's verification rules (../shared/reference/insightface.md, Evaluation),
/// not taken from `eval` itself.
final class EvalCommandTests: XCTestCase {
    private var workDirectory: URL!
    private var pairFolder: URL { TinyTraining.dataDirectory.appendingPathComponent("synth_val") }
    private func pairImage(_ index: Int) -> String { pairFolder.appendingPathComponent("imgs/\(index).jpg").path }

    override func setUpWithError() throws {
        workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: workDirectory)
    }

    /// A link to the shared checkpoint inside this test's folder, so that `eval`'s record lands here.
    private func linkedCheckpoint() throws -> URL {
        let link = workDirectory.appendingPathComponent("model.safetensors")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: TinyTraining.checkpoint)
        return link
    }

    /// `embed`'s rows for `paths` (flip test on), read back from its NPY file.
    private func embeddings(_ paths: [String], name: String = "embeddings.npy", checkpoint: URL = TinyTraining.checkpoint) throws -> (rows: [[Float]], shape: [Int]) {
        let output = workDirectory.appendingPathComponent(name)
        let run = try CLI.run(["embed", "--checkpoint", checkpoint.path] + paths + ["--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, "wrote \(paths.count) embeddings of 32 floats to \(output.path)\n")
        let array = try NPY.read(output)
        XCTAssertEqual(array.descr, "<f4")
        let values = try array.floats()
        let width = array.shape.last ?? 0
        return ((0..<paths.count).map { Array(values[$0 * width ..< ($0 + 1) * width]) }, array.shape)
    }

    private func summary(_ stdout: String) throws -> [String: Any] {
        let json = try XCTUnwrap(stdout.range(of: "\n{").map { String(stdout[$0.lowerBound...]) }, stdout)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    // MARK: export to ONNX and back

    /// `export` writes the trainer's model as ONNX (ONNX Runtime's agreement with HaarFace is ONNXExportTests'),
    /// and `embed --checkpoint model.onnx` gives the safetensors model's embeddings: exactly as exported, to float
    /// rounding with the batch norms folded.
    func testExportedONNXModelEmbedsAsTheCheckpointDoes() throws {
        let paths = (0..<6).map(pairImage)
        let reference = try embeddings(paths, name: "reference.npy").rows
        for fold in [false, true] {
            let model = workDirectory.appendingPathComponent(fold ? "folded.onnx" : "model.onnx")
            let run = try CLI.run(["export", "--checkpoint", TinyTraining.checkpoint.path, "--output", model.path]
                                  + (fold ? ["--fold-batchnorm"] : []))
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertEqual(run.stdout, "wrote r18 (16x16 -> 32) to \(model.path)\n")
            let rows = try embeddings(paths, name: "onnx.npy", checkpoint: model).rows
            for (row, expected) in zip(rows, reference) {
                if fold {
                    for (a, b) in zip(row, expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
                } else {
                    XCTAssertEqual(row, expected)
                }
            }
        }
        let missing = try CLI.run(["export", "--checkpoint", workDirectory.appendingPathComponent("none.pth").path,
                                   "--output", workDirectory.appendingPathComponent("x.onnx").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("none.pth"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: workDirectory.appendingPathComponent("x.onnx").path))
    }

    // MARK: eval on .bin and FastFace folder sets

    func testEvalOnBinAndFolderSetsFollowsInsightfacesProtocol() throws {
        let checkpoint = try linkedCheckpoint()
        let binFile = TinyTraining.dataDirectory.appendingPathComponent("synth_val.bin").path
        let run = try CLI.run(["eval", "--checkpoint", checkpoint.path, "--bin", binFile, pairFolder.path])
        XCTAssertEqual(run.status, 0, run.stderr)

        // insightface's lines for each set (step 0: not inside a training run), then ROC AUC and TARs.
        let lines = run.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("[synth_val][0]XNorm: ") }.count, 2, run.stdout)
        let accuracyLines = lines.filter { $0.hasPrefix("[synth_val][0]Accuracy-Flip: ") }
        XCTAssertEqual(accuracyLines.count, 2, run.stdout)
        XCTAssertNotNil(accuracyLines[0].range(of: #"^\[synth_val\]\[0\]Accuracy-Flip: \d\.\d{5}\+-\d\.\d{5}$"#,
                                               options: .regularExpression), accuracyLines[0])
        XCTAssertEqual(lines.filter { $0.hasPrefix("[synth_val] ROC AUC: ") && $0.contains("TAR@FAR=0.0001: ") }.count, 2)

        let json = try summary(run.stdout)
        XCTAssertEqual(json["network"] as? String, "r18")
        XCTAssertEqual(json["image_size"] as? Int, 16)
        XCTAssertEqual(json["checkpoint"] as? String, checkpoint.path)
        let sets = try XCTUnwrap(json["sets"] as? [[String: Any]])
        XCTAssertEqual(sets.count, 2)
        for set in sets {
            XCTAssertEqual(set["set"] as? String, "synth_val")
            XCTAssertEqual(set["pairs"] as? Int, 40)
            XCTAssertEqual((set["best_thresholds"] as? [Double])?.count, 10)
            XCTAssertEqual((set["tar_at_far"] as? [[String: Double]])?.compactMap { $0["far"] }, [1e-4, 1e-3, 1e-2])
            let auc = try XCTUnwrap(set["roc_auc"] as? Double)
            XCTAssertTrue(auc >= 0 && auc <= 1, "\(auc)")
            XCTAssertGreaterThan(try XCTUnwrap(set["xnorm"] as? Double), 0)
        }
        // The folder holds the same JPEG bytes as the .bin: the same figures to the last digit.
        func figures(_ set: [String: Any]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: set.filter { $0.key != "seconds" },
                                                        options: .sortedKeys), as: UTF8.self)
        }
        XCTAssertEqual(try figures(sets[0]), try figures(sets[1]))

        // insightface's 10-fold rule recomputed from `embed`'s rows (normalize(f(x) + f(flip x)), as eval embeds):
        // squared distances, thresholds 0.00 ... 3.99, "same" when d < threshold, 10 contiguous folds of 4 pairs,
        // the first best threshold on the 9 other folds, mean and population std of the fold accuracies.
        let same = try NPY.read(pairFolder.appendingPathComponent("pair_label.npy")).bools()
        let rows = try embeddings((0..<80).map(pairImage)).rows
        func squaredDistance(_ a: [Float], _ b: [Float]) -> Double {
            zip(a, b).reduce(0.0) { sum, pair in
                let difference = Double(pair.0) - Double(pair.1)
                return sum + difference * difference
            }
        }
        let distances = (0..<40).map { squaredDistance(rows[2 * $0], rows[2 * $0 + 1]) }
        let thresholds = (0..<400).map { Double($0) * 0.01 }
        func accuracy(_ threshold: Double, _ pairs: [Int]) -> Double {
            Double(pairs.filter { (distances[$0] < threshold) == same[$0] }.count) / Double(pairs.count)
        }
        var foldAccuracies: [Double] = [], bestThresholds: [Double] = []
        for fold in 0..<10 {
            let test = Array(4 * fold ..< 4 * fold + 4)
            let train = (0..<40).filter { !test.contains($0) }
            let scores = thresholds.map { accuracy($0, train) }
            let best = thresholds[scores.firstIndex(of: scores.max()!)!]
            bestThresholds.append(best)
            foldAccuracies.append(accuracy(best, test))
        }
        let mean = foldAccuracies.reduce(0, +) / 10
        let std = (foldAccuracies.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 10).squareRoot()
        // Accuracies are multiples of 1/4 per fold: equal up to float summation (1e-12). A distance within
        // float32 rounding of a grid threshold could flip one pair; none lies that close here (checked by the
        // thresholds agreeing).
        XCTAssertEqual(try XCTUnwrap(sets[0]["accuracy"] as? Double), mean, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(sets[0]["std"] as? Double), std, accuracy: 1e-12)
        let reported = try XCTUnwrap(sets[0]["best_thresholds"] as? [Double])
        for (ours, theirs) in zip(reported, bestThresholds) { XCTAssertEqual(ours, theirs, accuracy: 1e-9) }
        XCTAssertTrue(accuracyLines[0].hasSuffix(String(format: "%1.5f+-%1.5f", mean, std)), accuracyLines[0])
        // The ROC too: embed's rows are the features eval scores (one flip fusion, Verification.fusedEmbeddings),
        // so the AUC of their cosines, P(same pair's cosine > different pair's) + half the ties (the
        // Mann-Whitney form of sklearn's auc), is eval's. Float32 rounding of the rows (1e-7) moves no pair past
        // another here.
        let cosines = (0..<40).map { 1 - distances[$0] / 2 }
        let sameScores = (0..<40).filter { same[$0] }.map { cosines[$0] }, otherScores = (0..<40).filter { !same[$0] }.map { cosines[$0] }
        let wins = sameScores.reduce(0.0) { sum, s in sum + otherScores.reduce(0.0) { $0 + (s > $1 ? 1 : s == $1 ? 0.5 : 0) } }
        XCTAssertEqual(try XCTUnwrap(sets[0]["roc_auc"] as? Double), wins / Double(sameScores.count * otherScores.count),
                       accuracy: 1e-12)

        // The record `verify` reads: the last set's mean best threshold as a cosine (d = 2 - 2 cos on unit vectors).
        let record = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: checkpoint.path + ".eval.json"))) as? [String: Any])
        let meanThreshold = bestThresholds.reduce(0, +) / 10
        XCTAssertEqual(try XCTUnwrap(record["cosineThreshold"] as? Double), 1 - meanThreshold / 2, accuracy: 1e-9)
        XCTAssertEqual(record["set"] as? String, "synth_val")
    }

    // MARK: embed

    func testEmbedWritesUnitRowsAndTheSameRowForTheSameImage() throws {
        let (rows, shape) = try embeddings([pairImage(0), pairImage(1), pairImage(0)])
        XCTAssertEqual(shape, [3, 32])
        for (index, row) in rows.enumerated() {
            let norm = row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            XCTAssertEqual(norm, 1, accuracy: 1e-5, "row \(index): float32 normalisation, a few ulps")
        }
        XCTAssertEqual(rows[0], rows[2], "the same image twice in one batch gives identical rows")
        XCTAssertNotEqual(rows[0], rows[1])
        // The same image in another batch (alone) gives the same row: inference does not depend on the batch.
        // A batch of 1 may run other oneDNN kernels: float32 rounding of unit-vector components, atol 1e-6.
        let alone = try embeddings([pairImage(0)], name: "alone.npy").rows[0]
        for (a, b) in zip(alone, rows[0]) { XCTAssertEqual(a, b, accuracy: 1e-6) }

        // --no-flip embeds f(x) alone: a different, still unit, row.
        let output = workDirectory.appendingPathComponent("noflip.npy")
        let run = try CLI.run(["embed", "--checkpoint", TinyTraining.checkpoint.path, "--no-flip", pairImage(0),
                               "--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let noFlip = try NPY.read(output).floats()
        XCTAssertEqual(noFlip.reduce(0.0) { $0 + Double($1) * Double($1) }, 1, accuracy: 2e-5)
        XCTAssertNotEqual(noFlip, rows[0])
    }

    // MARK: verify

    func testVerifyPrintsTheCosineAndTheCallAtTheThreshold() throws {
        let rows = try embeddings([pairImage(0), pairImage(1)]).rows
        let cosine = zip(rows[0], rows[1]).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let shown = String(format: "%.4f", cosine)
        for (offset, call) in [(-0.01, "same person"), (0.01, "different people")] {
            let threshold = ((cosine + offset) * 1e4).rounded() / 1e4   // printed back exactly with %.4f
            let run = try CLI.run(["verify", "--checkpoint", TinyTraining.checkpoint.path, pairImage(0), pairImage(1),
                                   "--threshold", "\(threshold)"])
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertEqual(run.stdout, "cosine similarity \(shown), threshold \(String(format: "%.4f", threshold)) "
                           + "from --threshold: \(call)\n")
        }
        let itself = try CLI.run(["verify", "--checkpoint", TinyTraining.checkpoint.path, pairImage(3), pairImage(3),
                                  "--threshold", "0.999"])
        XCTAssertEqual(itself.stdout, "cosine similarity 1.0000, threshold 0.9990 from --threshold: same person\n", itself.stderr)
    }

    func testVerifyTakesTheThresholdOfTheLastEvaluation() throws {
        let checkpoint = try linkedCheckpoint()
        let none = try CLI.run(["verify", "--checkpoint", checkpoint.path, pairImage(0), pairImage(1)])
        assertCleanFailure(none, mentions: ["no threshold: pass --threshold, or run `haarface eval --checkpoint \(checkpoint.path)"])

        let eval = try CLI.run(["eval", "--checkpoint", checkpoint.path, "--bin", pairFolder.path])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let thresholds = try XCTUnwrap((try summary(eval.stdout)["sets"] as? [[String: Any]])?.first?["best_thresholds"] as? [Double])
        let cosineThreshold = 1 - thresholds.reduce(0, +) / 10 / 2   // d = 2 - 2 cos for unit vectors
        let run = try CLI.run(["verify", "--checkpoint", checkpoint.path, pairImage(0), pairImage(1)])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains(String(format: ", threshold %.4f from %@.eval.json (synth_val): ",
                                                 cosineThreshold, checkpoint.path)), run.stdout)
    }

    // MARK: IJB

    /// Writes an IJB-C-style set in insightface's layout from the tiny set's 16x16 pair images: 4 templates of
    /// 2 images (template 100's two images share one media, the others' do not), landmarks = the ArcFace
    /// template scaled by 16/112 (so alignment is a pure scaling), detector scores 0.6 ... 0.95.
    private func writeIJBSet(_ name: String = "IJB", landmarkLine: (Int) -> String? = { _ in nil }) throws -> URL {
        let root = workDirectory.appendingPathComponent(name)
        let crops = root.appendingPathComponent("loose_crop"), meta = root.appendingPathComponent("meta")
        for folder in [crops, meta] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        // ArcFace's 112x112 template (insightface.md), scaled to the 16x16 crops.
        let template: [(Double, Double)] = [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366),
                                            (41.5493, 92.3655), (70.7299, 92.2041)]
        var faces = "", landmarks = ""
        for image in 0..<8 {
            try FileManager.default.copyItem(atPath: pairImage(image), toPath: crops.appendingPathComponent("\(image).jpg").path)
            let templateID = 100 + image / 2, mediaID = image < 2 ? 500 : 500 + image
            faces += "\(image).jpg \(templateID) \(mediaID)\n"
            let points = template.map { String(format: "%.4f %.4f", $0.0 * 16 / 112, $0.1 * 16 / 112) }.joined(separator: " ")
            landmarks += landmarkLine(image) ?? "\(image).jpg \(points) \(0.6 + 0.05 * Double(image))\n"
        }
        // Each template against itself (label 1, cosine 1 by construction) and every other template (label 0).
        var pairs = ""
        for first in 100...103 {
            pairs += "\(first) \(first) 1\n"
            for second in first + 1 ..< 104 { pairs += "\(first) \(second) 0\n" }
        }
        try faces.write(to: meta.appendingPathComponent("ijbc_face_tid_mid.txt"), atomically: true, encoding: .utf8)
        try landmarks.write(to: meta.appendingPathComponent("ijbc_name_5pts_score.txt"), atomically: true, encoding: .utf8)
        try pairs.write(to: meta.appendingPathComponent("ijbc_template_pair_label.txt"), atomically: true, encoding: .utf8)
        return root
    }

    func testIJBEvaluationReportsTARsAndWritesTheROCPlot() throws {
        let root = try writeIJBSet()
        let plot = workDirectory.appendingPathComponent("roc.svg")
        let run = try CLI.run(["eval", "--checkpoint", TinyTraining.checkpoint.path, "--ijb", root.path,
                               "--ijb-target", "IJBC", "--plot", plot.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        // Every genuine pair is a template with itself (cosine 1); every impostor pair joins different crops
        // (cosine < 1): the genuine scores lie above all impostors, so AUC = 1 and TAR = 1 at every FAR.
        XCTAssertTrue(run.stdout.contains("| Method | 1e-06 | 1e-05 | 0.0001 | 0.001 | 0.01 | 0.1 |\n"), run.stdout)
        XCTAssertTrue(run.stdout.contains("| IJBC | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 |\n"), run.stdout)
        let ijb = try XCTUnwrap(try summary(run.stdout)["ijb"] as? [String: Any])
        XCTAssertEqual(ijb["target"] as? String, "IJBC")
        XCTAssertEqual(try XCTUnwrap(ijb["roc_auc"] as? Double), 1, accuracy: 1e-12)
        let table = try XCTUnwrap(ijb["tar_at_far"] as? [[String: Double]])
        XCTAssertEqual(table.compactMap { $0["far"] }, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
        XCTAssertEqual(table.compactMap { $0["tar"] }, [1, 1, 1, 1, 1, 1])
        let svg = try String(contentsOf: plot, encoding: .utf8)
        XCTAssertTrue(svg.contains("<svg") && svg.contains("ROC on IJBC"), String(svg.prefix(300)))
    }

    /// `--ijb` takes the target's own folder (`IJB_release/IJBC`, holding meta/ and loose_crop/) or the release
    /// folder above it (`IJB_release`, insightface's layout, holding IJBC/meta): the same set, the same figures.
    /// A folder that is neither names both places it looked.
    func testIJBTakesTheTargetFolderOrTheReleaseFolderAboveIt() throws {
        let release = workDirectory.appendingPathComponent("IJB_release")
        try FileManager.default.createDirectory(at: release, withIntermediateDirectories: true)
        let target = release.appendingPathComponent("IJBC")
        try FileManager.default.moveItem(at: try writeIJBSet(), to: target)
        var reports: [String] = []
        for root in [release, target] {
            let run = try CLI.run(["eval", "--checkpoint", TinyTraining.checkpoint.path, "--ijb", root.path, "--ijb-target", "IJBC"])
            XCTAssertEqual(run.status, 0, "\(root.path): \(run.stderr)")
            XCTAssertTrue(run.stdout.contains("| IJBC | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 |\n"), run.stdout)
            let ijb = try XCTUnwrap(try summary(run.stdout)["ijb"] as? [String: Any])
            reports.append(String(decoding: try JSONSerialization.data(withJSONObject: ijb, options: .sortedKeys), as: UTF8.self))
        }
        XCTAssertEqual(reports[0], reports[1])

        let run = try CLI.run(["eval", "--checkpoint", TinyTraining.checkpoint.path, "--ijb", workDirectory.path, "--ijb-target", "IJBB"])
        assertCleanFailure(run, mentions: ["\(workDirectory.path): no IJB set", "\(workDirectory.path)/meta",
                                           "\(workDirectory.path)/IJBB/meta"])
    }

    func testBadIJBMetaNamesTheFileAndLine() throws {
        let badLine = try writeIJBSet("bad-line") { $0 == 5 ? "5.jpg 1 2 3\n" : nil }
        let run = try CLI.run(["eval", "--checkpoint", TinyTraining.checkpoint.path, "--ijb", badLine.path])
        assertCleanFailure(run, mentions: ["meta/ijbc_name_5pts_score.txt:6: ", "(12 fields), found 4 fields"])

        let missingCrop = try writeIJBSet("missing-crop")
        try FileManager.default.removeItem(at: missingCrop.appendingPathComponent("loose_crop/2.jpg"))
        let missing = try CLI.run(["eval", "--checkpoint", TinyTraining.checkpoint.path, "--ijb", missingCrop.path])
        assertCleanFailure(missing, mentions: [missingCrop.appendingPathComponent("loose_crop/2.jpg").path, "line 3"])
    }

    // MARK: bad input

    /// A thrown error, reported by the argument parser ("Error: ..." on stderr, status 1), not a crash.
    private func assertCleanFailure(_ run: CLIRun, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.status, 1, "a thrown error exits with 1; a trap would end with a signal: \(run.stderr)",
                       file: file, line: line)
        XCTAssertTrue(run.stderr.hasPrefix("Error: "), run.stderr, file: file, line: line)
        for text in mentions { XCTAssertTrue(run.stderr.contains(text), "expected '\(text)' in: \(run.stderr)", file: file, line: line) }
    }

    func testMissingOrWrongCheckpointIsAClearError() throws {
        let missing = workDirectory.appendingPathComponent("no-such-model.safetensors").path
        for command in [["eval", "--bin", pairFolder.path], ["embed", pairImage(0), "--output", workDirectory.appendingPathComponent("e.npy").path],
                        ["verify", pairImage(0), pairImage(1), "--threshold", "0.5"]] {
            let run = try CLI.run([command[0], "--checkpoint", missing] + command.dropFirst())
            assertCleanFailure(run, mentions: [missing, "cannot be read"])
        }
        // An r18 checkpoint read as r34: the first tensor r34 has and r18 lacks is named, with the file.
        let wrongNetwork = try CLI.run(["embed", "--checkpoint", TinyTraining.checkpoint.path, "--network", "r34", pairImage(0),
                                        "--output", workDirectory.appendingPathComponent("e.npy").path])
        assertCleanFailure(wrongNetwork, mentions: [TinyTraining.checkpoint.path, "layer1.2"])
        // The head's class centres are a safetensors file but no backbone.
        let head = TinyTraining.checkpoint.deletingLastPathComponent().appendingPathComponent("checkpoint/head.safetensors").path
        let notBackbone = try CLI.run(["verify", "--checkpoint", head, "--network", "r18", pairImage(0), pairImage(1),
                                       "--threshold", "0.5"])
        assertCleanFailure(notBackbone, mentions: [head, "no 'features.weight' tensor"])
        // A truncated file.
        let truncated = workDirectory.appendingPathComponent("truncated.safetensors")
        try Data(try Data(contentsOf: TinyTraining.checkpoint).prefix(4096)).write(to: truncated)
        let cut = try CLI.run(["eval", "--checkpoint", truncated.path, "--bin", pairFolder.path])
        assertCleanFailure(cut, mentions: [truncated.path, "truncated"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: truncated.path + ".eval.json"))
    }

    func testCorruptOrMissingImageIsAClearError() throws {
        let corrupt = workDirectory.appendingPathComponent("corrupt.jpg")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: pairImage(0)))
        bytes = bytes.prefix(20) + Data(repeating: 0x5A, count: 200)   // a JPEG header, then garbage
        try bytes.write(to: corrupt)
        let text = workDirectory.appendingPathComponent("notes.jpg")
        try "not an image".write(to: text, atomically: true, encoding: .utf8)
        let output = workDirectory.appendingPathComponent("e.npy")

        let embedCorrupt = try CLI.run(["embed", "--checkpoint", TinyTraining.checkpoint.path, pairImage(0), corrupt.path,
                                        "--output", output.path])
        assertCleanFailure(embedCorrupt, mentions: [corrupt.path + ": "])
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "no partial output")
        let verifyText = try CLI.run(["verify", "--checkpoint", TinyTraining.checkpoint.path, pairImage(0), text.path,
                                      "--threshold", "0.5"])
        assertCleanFailure(verifyText, mentions: [text.path + ": not a JPEG"])
        let missing = workDirectory.appendingPathComponent("absent.jpg").path
        let verifyMissing = try CLI.run(["verify", "--checkpoint", TinyTraining.checkpoint.path, missing, pairImage(0),
                                         "--threshold", "0.5"])
        assertCleanFailure(verifyMissing, mentions: [missing + ": cannot read the image"])

        // A corrupt image inside a FastFace set: named by its path.
        let set = workDirectory.appendingPathComponent("broken_set")
        try FileManager.default.copyItem(at: pairFolder, to: set)
        try bytes.write(to: set.appendingPathComponent("imgs/7.jpg"))
        let eval = try CLI.run(["eval", "--checkpoint", TinyTraining.checkpoint.path, "--bin", set.path])
        assertCleanFailure(eval, mentions: ["image 7"])
    }
}
