import Foundation
import XCTest
@testable import FaceData

final class FolderSourceTests: XCTestCase {
    /// Classes in code-point order as Python's sorted() gives them: "10" < "9" < "B" < "a";
    /// images found recursively, non-images ignored.
    func testImageFolderOrderAndLabels() throws {
        let root = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let jpeg = try makeJPEG(red: 3)
        for (folder, files) in [("a", ["2.jpg", "1.JPEG"]), ("B", ["x.jpg"]), ("9", ["b.jpg", "sub/a.jpg"]), ("10", ["z.jpg", "notes.txt"])] {
            for file in files {
                let url = root.appendingPathComponent(folder).appendingPathComponent(file)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try jpeg.write(to: url)
            }
        }
        let source = try ImageFolderSource(root: root)
        XCTAssertEqual(source.classNames, ["10", "9", "B", "a"])
        XCTAssertEqual((0..<source.count).map { source.file(at: $0).path.replacingOccurrences(of: root.path + "/", with: "") },
                       ["10/z.jpg", "9/b.jpg", "9/sub/a.jpg", "B/x.jpg", "a/1.JPEG", "a/2.jpg"])
        XCTAssertEqual(try (0..<source.count).map { try source.label(at: $0) }, [0, 1, 1, 2, 3, 3])
        XCTAssertEqual(try source.encodedImage(at: 0), jpeg)

        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageFolderSource(root: root)) { error in
            XCTAssertTrue("\(error)".hasSuffix("empty: identity folder holds no .jpg/.jpeg/.png image"), "\(error)")
        }
    }

    func testEmptyFolderIsAClearError() throws {
        let root = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        XCTAssertThrowsError(try ImageFolderSource(root: root)) { error in
            XCTAssertTrue("\(error)".contains("empty folder: expected one subfolder per identity"), "\(error)")
        }
        XCTAssertThrowsError(try ImageFolderSource(root: root.appendingPathComponent("absent"))) { error in
            XCTAssertTrue("\(error)".hasSuffix("absent: not a folder"), "\(error)")
        }
    }

    /// FastFace's form: our writer -> our reader; pair_label.npy is byte-identical to np.save's
    /// (Fixtures/pair_label.npy from scripts/reference/data_verification.py holds [True, False, True]).
    func testVerificationFolderRoundTrip() throws {
        let root = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("agedb_30")
        let images = try (0..<6).map { try makeJPEG(red: UInt8($0 * 30)) }
        try VerificationFolder.write(images: images, sameIdentity: [true, false, true], to: folder)
        XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent("pair_label.npy")),
                       try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("pair_label.npy")))
        let set = try VerificationFolder.read(folder)
        XCTAssertEqual(set.name, "agedb_30")
        XCTAssertEqual(set.images, images)
        XCTAssertEqual(set.sameIdentity, [true, false, true])

        try FileManager.default.removeItem(at: folder.appendingPathComponent("imgs/5.jpg"))
        XCTAssertThrowsError(try VerificationFolder.read(folder)) { error in
            XCTAssertTrue("\(error)".contains("imgs/5.jpg: missing image: 3 pairs"), "\(error)")
        }
    }
}
