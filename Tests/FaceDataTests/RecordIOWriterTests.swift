import Foundation
import XCTest
@testable import FaceData

final class RecordIOWriterTests: XCTestCase {
    /// Our writer's files, read by the reference reader written from the format definition
    /// (scripts/reference/data_recordio.py): every header field and every image byte must match.
    func testInsightFaceLayoutReadByReferenceReader() throws {
        let folder = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var images = try (0..<5).map { try makeJPEG(red: UInt8(40 * $0)) }
        // Put the magic word at an aligned payload offset (payload = 24-byte header + image) so that
        // the record must be split into parts (cflag 1, 2, 3) and re-joined by the reader.
        images[2].append(contentsOf: [UInt8](repeating: 0, count: (4 - (24 + images[2].count) % 4) % 4))
        images[2].append(contentsOf: RecordIO.magicBytes + [1, 2, 3, 4] + RecordIO.magicBytes + [9])
        let labels = [0, 0, 1, 2, 2]
        let writer = try InsightFaceRecordWriter(directory: folder, prefix: "train")
        for (image, label) in zip(images, labels) { try writer.append(jpeg: image, label: label) }
        try writer.finish()

        let script = TestPaths.repository.appendingPathComponent("scripts/reference/data_recordio.py").path
        let result = try Python.json([script, "read", folder.appendingPathComponent("train").path, "--hex"])
        let insightface = try XCTUnwrap(result["insightface"] as? [String: Any])
        XCTAssertEqual(insightface["images"] as? Int, 5)
        XCTAssertEqual(insightface["identities"] as? Int, 3)
        XCTAssertEqual(insightface["image_labels"] as? [Int], labels)
        // Identity c spans keys [first, one past last]: images are keys 1...5.
        XCTAssertEqual(insightface["identity_ranges"] as? [[Int]], [[1, 3], [3, 4], [4, 6]])
        let records = try XCTUnwrap(result["records"] as? [String: [String: Any]])
        XCTAssertEqual(records.count, 1 + 5 + 3)
        XCTAssertEqual(records["0"]?["labels"] as? [Double], [6, 9], "record 0 holds [N+1, N+C+1]")
        for (index, image) in images.enumerated() {
            let record = try XCTUnwrap(records["\(index + 1)"])
            XCTAssertEqual(record["image_hex"] as? String, image.hex, "image \(index + 1)")
            XCTAssertEqual(record["flag"] as? Int, 0)
            XCTAssertEqual(record["id"] as? Int, index + 1)
        }
        // The split record really is split: its first part header carries cflag 1.
        let rec = try Data(contentsOf: folder.appendingPathComponent("train.rec"))
        let index = try String(contentsOf: folder.appendingPathComponent("train.idx"), encoding: .utf8)
        let line = index.split(separator: "\n").first { $0.hasPrefix("3\t") }!
        let offset = Int(line.split(separator: "\t")[1])!
        XCTAssertEqual(rec.littleEndian(UInt32.self, at: offset + 4) >> 29, 1)
    }

    func testLabelsOutOfOrderAreRejected() throws {
        let folder = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = try InsightFaceRecordWriter(directory: folder)
        let image = try makeJPEG(red: 1)
        XCTAssertThrowsError(try writer.append(jpeg: image, label: 1)) { error in
            XCTAssertTrue("\(error)".contains("expected 0, found 1"), "\(error)")
        }
        try writer.append(jpeg: image, label: 0)
        try writer.append(jpeg: image, label: 1)
        XCTAssertThrowsError(try writer.append(jpeg: image, label: 0)) { error in
            XCTAssertTrue("\(error)".contains("expected 1 or 2, found 0"), "\(error)")
        }
    }
}
