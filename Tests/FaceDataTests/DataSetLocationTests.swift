import Foundation
import XCTest
@testable import FaceData

/// `DataSetLocation.locate`'s rules, which every command shares (the commands' agreement is
/// HaarFaceCLITests' AgreementTests): by name and folder contents, before any file is read.
final class DataSetLocationTests: XCTestCase {
    func testEachKindIsToldByItsNameOrContents() throws {
        let folder = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let rec = TestPaths.fixtures.appendingPathComponent("python_insightface.rec")
        let idx = TestPaths.fixtures.appendingPathComponent("python_insightface.idx")
        XCTAssertEqual(try DataSetLocation.locate(rec), .recordIO(record: rec, index: idx))
        XCTAssertEqual(try DataSetLocation.locate(idx), .recordIO(record: rec, index: idx))
        let bin = TestPaths.fixtures.appendingPathComponent("bin_arrays_p5.bin")
        XCTAssertEqual(try DataSetLocation.locate(bin), .verificationBin(bin))

        // A folder: pair_label.npy first (a verification folder), then train.rec, then identity subfolders.
        let manager = FileManager.default
        let packed = folder.appendingPathComponent("packed")
        try manager.createDirectory(at: packed.appendingPathComponent("0001"), withIntermediateDirectories: true)
        try manager.copyItem(at: rec, to: packed.appendingPathComponent("train.rec"))
        XCTAssertEqual(try DataSetLocation.locate(packed), .recordIO(record: packed.appendingPathComponent("train.rec"),
                                                                     index: packed.appendingPathComponent("train.idx")))
        try manager.copyItem(at: TestPaths.fixtures.appendingPathComponent("pair_label.npy"),
                             to: packed.appendingPathComponent("pair_label.npy"))
        XCTAssertEqual(try DataSetLocation.locate(packed).kind, "verification-folder")
        let faces = folder.appendingPathComponent("faces")
        try manager.createDirectory(at: faces.appendingPathComponent("alice"), withIntermediateDirectories: true)
        XCTAssertEqual(try DataSetLocation.locate(faces), .imageFolder(faces))

        // Hidden entries do not count: a folder of only those is empty.
        let hidden = folder.appendingPathComponent("hidden")
        try manager.createDirectory(at: hidden.appendingPathComponent(".cache"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try DataSetLocation.locate(hidden)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(hidden.path): empty folder: expected a training set ("), "\(error)")
        }
        XCTAssertThrowsError(try DataSetLocation.locate(folder.appendingPathComponent("none"))) { error in
            XCTAssertEqual("\(error)", "\(folder.path)/none: no such file or folder")
        }
    }

    func testASetOfTheWrongRoleSaysWhatItIs() throws {
        let bin = try DataSetLocation.locate(TestPaths.fixtures.appendingPathComponent("bin_arrays_p5.bin"))
        XCTAssertFalse(bin.isTrainingSet)
        XCTAssertThrowsError(try bin.trainingSource()) { error in
            XCTAssertTrue("\(error)".contains("bin_arrays_p5.bin: a verification set (verification-bin), not a training set: "
                                              + "expected a .rec/.idx file"), "\(error)")
        }
        XCTAssertEqual(try bin.verificationSet().pairCount, 3)
        let rec = try DataSetLocation.locate(TestPaths.fixtures.appendingPathComponent("python_insightface.idx"))
        XCTAssertEqual(try rec.trainingSource().count, 5)
        XCTAssertThrowsError(try rec.verificationSet()) { error in
            XCTAssertTrue("\(error)".contains("python_insightface.rec: a training set (recordio), not a verification set: "
                                              + "expected a .bin file"), "\(error)")
        }
    }
}
