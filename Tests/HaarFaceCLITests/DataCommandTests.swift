import Foundation
import XCTest

final class DataCommandTests: XCTestCase {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var fixtures: URL { repository.appendingPathComponent("Tests/FaceDataTests/Fixtures") }

    private func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// Fixtures from scripts/reference/data_recordio.py (5 images of 2 identities, 8x8) and
    /// data_verification.py (3 pairs: same, different, same).
    func testInspectReportsEachKind() throws {
        let rec = try CLI.run(["data", "inspect", fixtures.appendingPathComponent("python_insightface.rec").path])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        XCTAssertEqual(rec.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       #"{"identities":2,"image_size":{"height":8,"width":8},"images":5,"kind":"recordio","layout":"insightface"}"#)
        let im2rec = try json(try CLI.run(["data", "inspect", fixtures.appendingPathComponent("python_im2rec.idx").path]).stdout)
        XCTAssertEqual(im2rec["layout"] as? String, "im2rec")
        XCTAssertEqual(im2rec["identities"] as? Int, 3)

        let bin = try json(try CLI.run(["data", "inspect", fixtures.appendingPathComponent("bin_arrays_p5.bin").path]).stdout)
        XCTAssertEqual(bin["kind"] as? String, "verification-bin")
        XCTAssertEqual(bin["images"] as? Int, 6)
        XCTAssertEqual(bin["pairs"] as? [String: Int], ["same": 2, "different": 1])
        XCTAssertEqual(bin["image_size"] as? [String: Int], ["width": 3, "height": 2])

        // FastFace's folder form and an image folder, made here.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("haarface-inspect-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let jpeg = try Data(contentsOf: fixtures.appendingPathComponent("jpeg_noise.jpg"))  // 24x16
        for index in 0..<6 {
            let url = root.appendingPathComponent("cfp_fp/imgs/\(index).jpg")
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try jpeg.write(to: url)
            let person = root.appendingPathComponent("faces/p\(index % 2)")
            try FileManager.default.createDirectory(at: person, withIntermediateDirectories: true)
            try jpeg.write(to: person.appendingPathComponent("\(index).jpg"))
        }
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("pair_label.npy"),
                                         to: root.appendingPathComponent("cfp_fp/pair_label.npy"))
        let fastFace = try CLI.run(["data", "inspect", root.appendingPathComponent("cfp_fp").path])
        XCTAssertEqual(fastFace.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       #"{"image_size":{"height":16,"width":24},"images":6,"kind":"verification-folder","pairs":{"different":1,"same":2}}"#)
        let folder = try CLI.run(["data", "inspect", root.appendingPathComponent("faces").path])
        XCTAssertEqual(folder.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       #"{"identities":2,"image_size":{"height":16,"width":24},"images":6,"kind":"image-folder"}"#)

        let missing = try CLI.run(["data", "inspect", "/nonexistent/lfw.bin"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/lfw.bin: no such file or folder"), missing.stderr)
    }

    /// `data pack` of an image folder -> train.rec/.idx that the reference reader written from the format
    /// definition (scripts/reference/data_recordio.py) reads back byte for byte; `data inspect` agrees.
    func testPackIsReadableByTheReferenceReader() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("haarface-pack-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        // Three small JPEGs: take the fixture's bytes via the reference reader.
        let script = repository.appendingPathComponent("scripts/reference/data_recordio.py").path
        let reference = try json(try runPython([script, "read", fixtures.appendingPathComponent("python_im2rec").path, "--hex"]))
        let records = try XCTUnwrap(reference["records"] as? [String: [String: Any]])
        let jpegs = (0..<3).map { Data(hex: records["\($0)"]!["image_hex"] as! String) }
        let layout = [("alice", [0, 1]), ("bob", [2]), ("carol", [1, 2, 0])]
        for (person, images) in layout {
            let folder = root.appendingPathComponent("faces/\(person)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (n, image) in images.enumerated() { try jpegs[image].write(to: folder.appendingPathComponent("\(n).jpg")) }
        }
        let output = root.appendingPathComponent("packed")
        let pack = try CLI.run(["data", "pack", root.appendingPathComponent("faces").path, "--output", output.path])
        XCTAssertEqual(pack.status, 0, pack.stderr)
        XCTAssertTrue(pack.stdout.contains("packed 6 images of 3 identities"), pack.stdout)

        let read = try json(try runPython([script, "read", output.appendingPathComponent("train").path, "--hex"]))
        let insightface = try XCTUnwrap(read["insightface"] as? [String: Any])
        XCTAssertEqual(insightface["image_labels"] as? [Int], [0, 0, 1, 2, 2, 2])
        XCTAssertEqual(insightface["identity_ranges"] as? [[Int]], [[1, 3], [3, 4], [4, 7]])
        let packed = try XCTUnwrap(read["records"] as? [String: [String: Any]])
        let order = layout.flatMap(\.1)
        for (key, image) in order.enumerated() {
            XCTAssertEqual(packed["\(key + 1)"]?["image_hex"] as? String, records["\(image)"]?["image_hex"] as? String)
        }
        let inspect = try json(try CLI.run(["data", "inspect", output.path]).stdout)
        XCTAssertEqual(inspect["images"] as? Int, 6)
        XCTAssertEqual(inspect["identities"] as? Int, 3)

        let empty = root.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let failed = try CLI.run(["data", "pack", empty.path, "--output", output.path])
        XCTAssertNotEqual(failed.status, 0)
        XCTAssertTrue(failed.stderr.contains("empty folder"), failed.stderr)
    }

    private func runPython(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        return String(decoding: data, as: UTF8.self)
    }
}

private extension Data {
    init(hex: String) {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        self.init(bytes)
    }
}
