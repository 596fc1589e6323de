import Foundation
import XCTest
@testable import FaceData

final class NPYTests: XCTestCase {
    let script = TestPaths.repository.appendingPathComponent("scripts/reference/data_verification.py").path

    /// Files written by np.save (scripts/reference/data_verification.py): [True, False, True] and
    /// arange(6, float32).reshape(2, 3) / 4; and our files read back by np.load, byte-identical to np.save's.
    func testNumPyFilesBothWays() throws {
        let flags = try NPY.read(TestPaths.fixtures.appendingPathComponent("pair_label.npy"))
        XCTAssertEqual(flags.shape, [3])
        XCTAssertEqual(try flags.bools(), [true, false, true])
        let floats = try NPY.read(TestPaths.fixtures.appendingPathComponent("floats.npy"))
        XCTAssertEqual(floats.shape, [2, 3])
        XCTAssertEqual(try floats.floats(), [0, 0.25, 0.5, 0.75, 1, 1.25])

        let folder = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try NPY.write([true, false, true], to: folder.appendingPathComponent("b.npy"))
        try NPY.write([0, 0.25, 0.5, 0.75, 1, 1.25], shape: [2, 3], to: folder.appendingPathComponent("f.npy"))
        XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent("b.npy")),
                       try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("pair_label.npy")))
        XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent("f.npy")),
                       try Data(contentsOf: TestPaths.fixtures.appendingPathComponent("floats.npy")))
        let loaded = try Python.json([script, "npy", folder.appendingPathComponent("f.npy").path])
        XCTAssertEqual(loaded["dtype"] as? String, "<f4")
        XCTAssertEqual(loaded["shape"] as? [Int], [2, 3])
        XCTAssertEqual(loaded["values"] as? [Double], [0, 0.25, 0.5, 0.75, 1, 1.25])
    }

    func testMalformedFilesAreRejected() throws {
        XCTAssertThrowsError(try NPY.decode(Data("hello world".utf8), file: "a.npy")) { error in
            XCTAssertTrue("\(error)".contains("a.npy: byte 0: not an .npy file"), "\(error)")
        }
        let good = NPY.encode(descr: "|b1", shape: [3], data: Data([1, 0, 1]))
        XCTAssertThrowsError(try NPY.decode(good.dropLast(), file: "b.npy")) { error in
            XCTAssertTrue("\(error)".contains("needs 3 bytes, found 2"), "\(error)")
        }
        let object = NPY.encode(descr: "|O", shape: [1], data: Data([0]))
        XCTAssertThrowsError(try NPY.decode(object, file: "c.npy")) { error in
            XCTAssertTrue("\(error)".contains("unsupported dtype |O"), "\(error)")
        }
    }
}
