import FaceData
import Foundation
import XCTest
@testable import FaceEval

/// Expected values: scripts/reference/eval_fixtures.py (ijb.json), which runs insightface ijb_11.py's
/// template aggregation (F2, N1, D1) with numpy 1.24 and scores it with scikit-learn 1.2.1's roc_curve.
final class IJBTests: XCTestCase {
    func testTemplatesScoresAndTARsMatchInsightface() throws {
        let json = try Fixture.load("ijb.json")
        let dimension = try XCTUnwrap(json["dimension"] as? Int)
        let original = Fixture.rows(try Fixture.decode(json["original"], as: Float.self), dimension: dimension)
        let flipped = Fixture.rows(try Fixture.decode(json["flipped"], as: Float.self), dimension: dimension)
        let detector = try Fixture.decode(json["detectorScores"], as: Float.self)
        let features = (0..<original.count).map {
            IJBEvaluation.imageFeature(original: original[$0], flipped: flipped[$0], detectorScore: detector[$0])
        }
        let templates = try TemplateFeatures(imageFeatures: features, templates: try XCTUnwrap(json["templates"] as? [Int]),
                                             medias: try XCTUnwrap(json["medias"] as? [Int]))
        XCTAssertEqual(templates.templateIDs, try XCTUnwrap(json["templateIDs"] as? [Int]))
        // Unit vectors; media means in float64 here, float32 in numpy: atol 1e-6 (float32 epsilon x 10).
        assertClose(templates.features.flatMap { $0 }, try Fixture.doubles(json["templateFeatures"]),
                    rtol: 0, atol: 1e-6, "template features")

        let rows = try XCTUnwrap(json["pairs"] as? [[Int]])
        var pairs = IJBPairs()
        for row in rows {
            pairs.template1.append(Int32(row[0]))
            pairs.template2.append(Int32(row[1]))
            pairs.isSame.append(row[2] == 1)
        }
        let scores = try templates.scores(for: pairs)
        // Cosines of those vectors: the script measured at most 5.1e-8 between float32 and float64 media means.
        assertClose(scores, try Fixture.doubles(json["scores"]), rtol: 0, atol: 1e-6, "scores")

        // The script checked that no two scores are closer than 3.6e-6, so the order and the curve are the
        // same: rates and TARs exact, AUC to summation order.
        let report = try IJBEvaluation.evaluate(meta: IJBMeta(faces: zip(json["templates"] as! [Int], json["medias"] as! [Int]).map {
            IJBFace(imageName: "", templateID: $0, mediaID: $1, landmarks: [], detectorScore: 1, line: 0)
        }, pairs: pairs, imageDirectory: URL(fileURLWithPath: "/")), imageFeatures: features)
        let roc = try XCTUnwrap(report.roc)
        XCTAssertEqual(roc.falsePositiveRates, try Fixture.doubles(json["fpr"]))
        XCTAssertEqual(roc.truePositiveRates, try Fixture.doubles(json["tpr"]))
        assertClose(report.rocAUC, try XCTUnwrap(json["auc"] as? Double), rtol: 1e-12, atol: 0, "AUC")
        let table = try Fixture.table(json["table"])
        XCTAssertEqual(report.tarAtFAR.map(\.far), IJBEvaluation.falseAcceptRates)
        XCTAssertEqual(report.tarAtFAR.map(\.far), table.far)
        XCTAssertEqual(report.tarAtFAR.map(\.tar), table.tar)
        XCTAssertEqual(report.tarAtFAR.map(\.achievedFAR), table.achievedFAR)
        XCTAssertEqual(report.templateCount, templates.templateIDs.count)
        XCTAssertTrue(report.tableText.contains(String(format: "%.2f", table.tar[5] * 100)), report.tableText)
        // The figure: one curve on log10(FPR) (points with FPR >= 1e-6 only), a marker per reported FAR.
        let figure = report.figure()
        let series = try XCTUnwrap(figure.panels.first?.series.first)
        let positive = zip(roc.falsePositiveRates, roc.truePositiveRates).filter { $0.0 >= 1e-6 }
        XCTAssertEqual(series.x, positive.map { log10($0.0) })
        XCTAssertEqual(series.y, positive.map(\.1))
        XCTAssertEqual(figure.panels[0].markers.map(\.x), IJBEvaluation.falseAcceptRates.map { log10($0) })
        XCTAssertTrue(figure.svg().contains("<svg"))
    }

    func testTemplateAggregationByHand() throws {
        // Template 7: media 1 holds frames (2, 0) and (0, 2) -> mean (1, 1); media 2 holds (3, -1).
        // Sum (4, 0) -> normalised (1, 0). Template 3: one image (0, -5) -> (0, -1). Their cosine is 0.
        let templates = try TemplateFeatures(imageFeatures: [[2, 0], [0, -5], [0, 2], [3, -1]],
                                             templates: [7, 3, 7, 7], medias: [1, 9, 1, 2])
        XCTAssertEqual(templates.templateIDs, [3, 7])
        XCTAssertEqual(templates.feature(of: 7), [1, 0])
        XCTAssertEqual(templates.feature(of: 3), [0, -1])
        var pairs = IJBPairs(template1: [7, 7], template2: [3, 7], isSame: [false, true])
        XCTAssertEqual(try templates.scores(for: pairs), [0, 1])
        pairs.template2[0] = 4
        XCTAssertThrowsError(try templates.scores(for: pairs, pairFile: "meta/ijbc_template_pair_label.txt")) { error in
            XCTAssertEqual(error as? EvaluationError, .malformedLine(
                file: "meta/ijbc_template_pair_label.txt", line: 1, expected: "templates that have images in the face list",
                found: "7 4 (template 4 has no images)"))
        }
    }

    let names = (templateMedia: "meta/ijbc_face_tid_mid.txt", landmarks: "meta/ijbc_name_5pts_score.txt",
                 pairs: "meta/ijbc_template_pair_label.txt")

    func parse(_ templateMedia: String, _ landmarks: String, _ pairs: String) throws -> IJBMeta {
        try IJBMeta.parse(templateMedia: Data(templateMedia.utf8), landmarks: Data(landmarks.utf8),
                          pairs: Data(pairs.utf8), imageDirectory: URL(fileURLWithPath: "/tmp"), names: names)
    }

    func testParsesInsightfaceMetaLayout() throws {
        let meta = try parse("1.jpg 1 69544\n2.jpg 1 69545\r\n\n3.jpg 5 3\n",
                             "1.jpg 108.8 116.5 142.7 118.2 123.4 137.7 108.6 155.6 136.4 157.0 0.998\n"
                             + "2.jpg 1 2 3 4 5 6 7 8 9 10 0.5\n3.jpg 1 2 3 4 5 6 7 8 9 10 -1e-3\n",
                             "1 5 0\n1 1 1\n")
        XCTAssertEqual(meta.faces.count, 3)
        XCTAssertEqual(meta.faces[0], IJBFace(imageName: "1.jpg", templateID: 1, mediaID: 69544,
                                              landmarks: [(108.8, 116.5), (142.7, 118.2), (123.4, 137.7),
                                                          (108.6, 155.6), (136.4, 157.0)].map {
                                                  SIMD2(Double(Float($0.0)), Double(Float($0.1)))
                                              }, detectorScore: 0.998, line: 1))
        XCTAssertEqual(meta.faces[2].templateID, 5)
        XCTAssertEqual(meta.faces[2].line, 3)
        XCTAssertEqual(meta.faces[2].detectorScore, -1e-3)
        XCTAssertEqual(meta.pairs, IJBPairs(template1: [1, 1], template2: [5, 1], isSame: [false, true]))
    }

    func testMalformedMetaLinesNameFileAndLine() {
        let good = "a.jpg 1 2 3 4 5 6 7 8 9 10 0.9\n"
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(message { _ = try parse("a.jpg 1\n", good, "") },
                       "meta/ijbc_face_tid_mid.txt:1: expected \"image_name template_id media_id\" (3 fields, integer ids), found \"a.jpg 1\"")
        XCTAssertEqual(message { _ = try parse("a.jpg 1 x\n", good, "") },
                       "meta/ijbc_face_tid_mid.txt:1: expected \"image_name template_id media_id\" (3 fields, integer ids), found \"a.jpg 1 x\"")
        XCTAssertEqual(message { _ = try parse("a.jpg 1 2\n", "a.jpg 1 2 3 4 5 6 7 8 9 0.9\n", "") },
                       "meta/ijbc_name_5pts_score.txt:1: expected \"image_name x1 y1 x2 y2 x3 y3 x4 y4 x5 y5 score\" (12 fields), found 11 fields, found \"a.jpg 1 2 3 4 5 6 7 8 9 0.9\"")
        XCTAssertEqual(message { _ = try parse("a.jpg 1 2\n", "a.jpg 1 2 3 4 5 6 7 8 9 nan 0.9\n", "") },
                       "meta/ijbc_name_5pts_score.txt:1: expected \"image_name x1 y1 x2 y2 x3 y3 x4 y4 x5 y5 score\" (12 fields) with numeric coordinates and score, found \"a.jpg 1 2 3 4 5 6 7 8 9 nan 0.9\"")
        XCTAssertEqual(message { _ = try parse("a.jpg 1 2\n", "b.jpg 1 2 3 4 5 6 7 8 9 10 0.9\n", "") },
                       "meta/ijbc_name_5pts_score.txt:1: expected image \"a.jpg\" as on line 1 of meta/ijbc_face_tid_mid.txt, found \"b.jpg 1 2 3 4 5 6 7 8 9 10 0.9\"")
        XCTAssertEqual(message { _ = try parse("a.jpg 1 2\nb.jpg 1 2\n", good, "") },
                       "lines of meta/ijbc_name_5pts_score.txt (one per line of meta/ijbc_face_tid_mid.txt): expected 2, found 1")
        XCTAssertEqual(message { _ = try parse("a.jpg 1 2\n", good, "1 1 1\n\n1 2 2\n") },
                       "meta/ijbc_template_pair_label.txt:3: expected \"template_id_1 template_id_2 label\" (integer ids, label 0 or 1), found \"1 2 2\"")
    }

    // MARK: The whole pipeline on a small folder in insightface's layout, with a fake embedder.

    /// Identity i's loose crop: a disc of red level 40 * (i + 1) at the nose of a face whose landmarks are
    /// a rotated, scaled copy of the template; each image has its own pose.
    func makeDataSet(identities: [Int], at root: URL) throws {
        let codec = JPEGCodec()
        try FileManager.default.createDirectory(at: root.appendingPathComponent("loose_crop"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("meta"), withIntermediateDirectories: true)
        var tidMid = "", landmarks = ""
        var occurrences: [Int: Int] = [:]
        var templates: [(id: Int, identity: Int)] = []
        for (index, identity) in identities.enumerated() {
            let angle = 0.05 * Double(index % 5) - 0.1, scale = 1.2 + 0.1 * Double(index % 3)
            let points = FaceAlignment.arcFaceTemplate.map { p in
                SIMD2(scale * (cos(angle) * p.x - sin(angle) * p.y) + 30, scale * (sin(angle) * p.x + cos(angle) * p.y) + 15)
            }
            var image = RGBImage(width: 200, height: 200)
            // Only a disc around the nose is coloured: an embedder that reads the aligned nose tip sees the
            // identity only if the alignment put the nose where the template says.
            let level = UInt8(40 * (identity + 1)), nose = points[2]
            for y in 0..<200 { for x in 0..<200 where (Double(x) - nose.x) * (Double(x) - nose.x)
                + (Double(y) - nose.y) * (Double(y) - nose.y) < 64 { image.pixels[(y * 200 + x) * 3] = level } }
            let name = "\(index).jpg"
            try codec.encode(image, quality: 95).write(to: root.appendingPathComponent("loose_crop/\(name)"))
            // Two templates per identity (its images alternate between them); every image its own media.
            let template = 100 + 10 * identity + occurrences[identity, default: 0] % 2
            occurrences[identity, default: 0] += 1
            if !templates.contains(where: { $0.id == template }) { templates.append((template, identity)) }
            tidMid += "\(name) \(template) \(index)\n"
            landmarks += name + points.map { String(format: " %.3f %.3f", $0.x, $0.y) }.joined() + " 0.9\n"
        }
        try tidMid.write(to: root.appendingPathComponent("meta/ijbc_face_tid_mid.txt"), atomically: true, encoding: .utf8)
        try landmarks.write(to: root.appendingPathComponent("meta/ijbc_name_5pts_score.txt"), atomically: true, encoding: .utf8)
        var pairs = ""
        for (i, a) in templates.enumerated() {
            for b in templates[(i + 1)...] { pairs += "\(a.id) \(b.id) \(a.identity == b.identity ? 1 : 0)\n" }
        }
        try pairs.write(to: root.appendingPathComponent("meta/ijbc_template_pair_label.txt"), atomically: true, encoding: .utf8)
    }

    /// Reads the identity back from the red level at the aligned nose tip and returns that identity's
    /// fixed vector plus a little noise.
    func fakeEmbedder(seen: UnsafeMutablePointer<Int>) -> ClosureEmbedder {
        ClosureEmbedder { images in
            images.map { image in
                precondition(image.width == 112 && image.height == 112)
                seen.pointee += 1
                let red = Double(image.pixels[(72 * 112 + 56) * 3])
                let identity = Int((red / 40).rounded()) - 1
                let vector: [Float] = (0..<16).map { Float(sin(Double(identity * 16 + $0) * 1.7)) }
                return vector.enumerated().map { $1 + 0.05 * Float(sin(Double(seen.pointee * 31 + $0))) }
            }
        }
    }

    func testPipelineOnAFolderWithAFakeEmbedder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("faceeval-ijb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let identities = [0, 1, 2, 3, 0, 1, 2, 3, 0, 2]
        try makeDataSet(identities: identities, at: root)
        let seen = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        seen.pointee = 0
        defer { seen.deallocate() }
        var progress: [Int] = []
        let report = try IJBEvaluation.evaluate(root: root, target: "IJBC", embedder: fakeEmbedder(seen: seen),
                                                batchSize: 4) { done, _ in progress.append(done) }
        XCTAssertEqual(seen.pointee, 2 * identities.count, "every image and its mirror image embedded once")
        XCTAssertEqual(progress, [4, 8, 10])
        XCTAssertEqual(report.name, "IJBC")
        XCTAssertEqual(report.imageCount, 10)
        // Identities 0 and 2 have three images, 1 and 3 two: 8 templates, 28 pairs, 4 of them "same".
        XCTAssertEqual(report.templateCount, 8)
        XCTAssertEqual(report.pairCount, 28)
        // Same-identity templates score near 1, others far lower: a perfect ROC. A mix-up of templates,
        // images or landmarks (the embedder reads the identity at the aligned nose) would break this.
        XCTAssertEqual(report.rocAUC, 1)
        XCTAssertEqual(report.tarAtFAR.map(\.tar), Array(repeating: 1, count: 6))
        let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        XCTAssertTrue(json.contains("\"tarAtFAR\""), json)
    }

    func testDetectorScoreScalesTheFeature() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("faceeval-ijb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try makeDataSet(identities: [1, 1], at: root)
        var meta = try IJBMeta.load(root: root, target: "ijbc")
        meta.faces[1] = meta.faces[0]
        meta.faces[1].detectorScore = meta.faces[0].detectorScore / 2  // 0.45: halving is exact in float32
        let constant = ClosureEmbedder { images in images.map { _ in [1, 2, 3] } }
        let features = try IJBEvaluation.imageFeatures(meta: meta, embedder: constant)
        XCTAssertEqual(features[0], [2, 4, 6].map { $0 * Float(0.9) })
        XCTAssertEqual(features[1], features[0].map { $0 / 2 })
    }

    /// The set folder is the root itself (IJB_release/IJBC) or `<root>/<target>` (insightface's IJB_release).
    func testSetFolderIsTheRootOrItsTargetSubfolder() throws {
        let release = FileManager.default.temporaryDirectory.appendingPathComponent("faceeval-ijb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: release) }
        let target = release.appendingPathComponent("IJBC")
        try makeDataSet(identities: [0, 1, 2], at: target)
        XCTAssertEqual(try IJBMeta.setFolder(root: target, target: "IJBC").path, target.path)
        XCTAssertEqual(try IJBMeta.setFolder(root: release, target: "IJBC").path, target.path)
        XCTAssertEqual(try IJBMeta.setFolder(root: release, target: "ijbc").path, target.path, "the folder's name is upper case")
        let fromRelease = try IJBMeta.load(root: release, target: "IJBC"), fromTarget = try IJBMeta.load(root: target, target: "IJBC")
        XCTAssertEqual(fromRelease.faces, fromTarget.faces)
        XCTAssertEqual(fromRelease.imageDirectory.path, target.appendingPathComponent("loose_crop").path)
        XCTAssertThrowsError(try IJBMeta.setFolder(root: release, target: "IJBB")) { error in
            XCTAssertEqual(error as? EvaluationError, .noIJBSet(root: release.path, target: "IJBB"))
        }
    }

    func testMissingImageNamesFileAndMetaLine() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("faceeval-ijb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try makeDataSet(identities: [0, 1, 2], at: root)
        try FileManager.default.removeItem(at: root.appendingPathComponent("loose_crop/1.jpg"))
        let constant = ClosureEmbedder { images in images.map { _ in [1, 2] } }
        XCTAssertThrowsError(try IJBEvaluation.evaluate(root: root, target: "IJBC", embedder: constant)) { error in
            XCTAssertEqual(error as? EvaluationError, .missingFile(
                path: root.appendingPathComponent("loose_crop/1.jpg").path,
                referencedBy: "meta/ijbc_name_5pts_score.txt line 2"))
        }
        XCTAssertThrowsError(try IJBMeta.load(root: root, target: "IJBB")) { error in
            XCTAssertEqual(error as? EvaluationError, .missingFile(
                path: root.appendingPathComponent("meta/ijbb_face_tid_mid.txt").path,
                referencedBy: "the IJB layout (meta folder)"))
        }
    }
}
