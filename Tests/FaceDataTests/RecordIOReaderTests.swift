import Foundation
import XCTest
@testable import FaceData

final class RecordIOReaderTests: XCTestCase {
    let script = TestPaths.repository.appendingPathComponent("scripts/reference/data_recordio.py").path

    /// Files written by scripts/reference/data_recordio.py (InsightFace layout, keys written out of order,
    /// a record split in 3 parts, a label stored as an extra-label array) read as Python reads them.
    func testPythonWrittenInsightFaceLayout() throws {
        let prefix = TestPaths.fixtures.appendingPathComponent("python_insightface")
        let source = try RecordIOSource(recordURL: prefix.appendingPathExtension("rec"))
        XCTAssertEqual(source.layout, .insightFace(identityCount: 2))
        XCTAssertEqual(source.count, 5)
        XCTAssertEqual(source.classCount, 2)
        XCTAssertEqual(try (0..<5).map { try source.label(at: $0) }, [0, 0, 1, 1, 1])
        let reference = try Python.json([script, "read", prefix.path, "--hex"])
        let records = try XCTUnwrap(reference["records"] as? [String: [String: Any]])
        for index in 0..<5 {
            XCTAssertEqual(try source.encodedImage(at: index).hex, records["\(index + 1)"]?["image_hex"] as? String, "image \(index)")
        }
        XCTAssertEqual(try source.record(at: 3).header.labels, [1, 7.5])
        XCTAssertEqual(source.describe(2), prefix.path + ".rec record 3")
        // Every image decodes (the split record 3 is whole again: a JPEG with trailing bytes).
        let codec = JPEGCodec()
        for index in 0..<5 { XCTAssertEqual(try codec.decode(try source.encodedImage(at: index), source: "").width, 8) }
    }

    /// im2rec output has no header record: every key is an image; classes = largest label + 1.
    func testPythonWrittenHeaderlessLayout() throws {
        let source = try RecordIOSource(recordURL: TestPaths.fixtures.appendingPathComponent("python_im2rec.rec"))
        XCTAssertEqual(source.layout, .headerless)
        XCTAssertEqual(source.count, 3)
        XCTAssertEqual(source.classCount, 3)
        XCTAssertEqual(try (0..<3).map { try source.label(at: $0) }, [2, 0, 1])
    }

    /// An im2rec record 0 with a label array (flag 2) but an image is an image, not InsightFace's header.
    func testMultiLabelRecordZeroWithImageIsHeaderless() throws {
        let folder = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let jpeg = try makeJPEG(red: 9)
        var rec: [UInt8] = [], index = ""
        for (key, header) in [RecordHeader(labels: [2, 5], id: 0), RecordHeader(label: 1, id: 1)].enumerated() {
            index += "\(key)\t\(rec.count)\n"
            var payload: [UInt8] = []
            header.append(to: &payload)
            payload += jpeg
            try payload.withUnsafeBytes { try RecordIO.frame($0, into: &rec) }
        }
        try Data(rec).write(to: folder.appendingPathComponent("multi.rec"))
        try index.write(to: folder.appendingPathComponent("multi.idx"), atomically: true, encoding: .utf8)
        let source = try RecordIOSource(recordURL: folder.appendingPathComponent("multi.rec"))
        XCTAssertEqual(source.layout, .headerless)
        XCTAssertEqual(try (0..<2).map { try source.label(at: $0) }, [2, 1], "the first extra label is the class")
        XCTAssertEqual(source.classCount, 3)
        XCTAssertEqual(try source.encodedImage(at: 0), jpeg)
    }

    /// Our writer -> our reader, including a multi-part record, read from 4 threads at once.
    func testWriterReaderRoundTripConcurrently() throws {
        let folder = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var images = try (0..<40).map { try makeJPEG(red: UInt8($0 * 5)) }
        images[7] = Data(RecordIO.magicBytes + RecordIO.magicBytes) + images[7]  // payload offsets 24, 28
        let labels = (0..<40).map { $0 / 4 }
        let writer = try InsightFaceRecordWriter(directory: folder)
        for (image, label) in zip(images, labels) { try writer.append(jpeg: image, label: label) }
        try writer.finish()
        let source = try RecordIOSource(recordURL: folder.appendingPathComponent("train.rec"))
        XCTAssertEqual(source.classCount, 10)
        let results = UnsafeMutableBufferPointer<Data>.allocate(capacity: 40 * 4)
        results.initialize(repeating: Data())
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for index in 0..<40 { results[thread * 40 + index] = (try? source.encodedImage(at: (index + 7 * thread) % 40)) ?? Data() }
        }
        for thread in 0..<4 {
            for index in 0..<40 {
                XCTAssertEqual(results[thread * 40 + index], images[(index + 7 * thread) % 40])
            }
        }
        XCTAssertEqual(try (0..<40).map { try source.label(at: $0) }, labels)
    }

    /// A copy of our writer's 3-image set, damaged by `damage`; returns the error that opening and reading it raise.
    private func openDamaged(_ damage: (inout Data, inout String) -> Void) throws -> Error? {
        let folder = try TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = try InsightFaceRecordWriter(directory: folder)
        for label in [0, 0, 1] { try writer.append(jpeg: try makeJPEG(red: UInt8(label * 90)), label: label) }
        try writer.finish()
        let rec = folder.appendingPathComponent("train.rec"), idx = folder.appendingPathComponent("train.idx")
        var data = try Data(contentsOf: rec)
        var index = try String(contentsOf: idx, encoding: .utf8)
        damage(&data, &index)
        try data.write(to: rec)
        try index.write(to: idx, atomically: true, encoding: .utf8)
        do {
            let source = try RecordIOSource(recordURL: rec)
            for i in 0..<source.count { _ = try source.encodedImage(at: i) }
            return nil
        } catch {
            return error
        }
    }

    /// Offset of `key` in our writer's index text.
    private func offset(_ key: Int, _ index: String) -> Int {
        Int(index.split(separator: "\n")[key].split(separator: "\t")[1])!
    }

    func testDamagedFilesGiveClearErrors() throws {
        // Cut inside record 3: the .idx entries of the identity records after it point past the end.
        let cut = try openDamaged { data, index in data = data.prefix(offset(3, index) + 20) }
        XCTAssertTrue("\(cut!)".contains("train.idx: line 5: offset"), "\(String(describing: cut))")
        XCTAssertTrue("\(cut!)".contains("or the .rec is truncated"), "\(String(describing: cut))")
        // The same without those entries: the record itself is found short.
        let truncated = try openDamaged { data, index in
            data = data.prefix(offset(3, index) + 20)
            index = index.split(separator: "\n").prefix(4).joined(separator: "\n")
        }
        XCTAssertTrue("\(truncated!)".contains("record 3: file truncated"), "\(String(describing: truncated))")

        let wrongMagic = try openDamaged { data, index in data[offset(2, index)] ^= 0xFF }
        XCTAssertTrue("\(wrongMagic!)".contains("record 2: wrong magic number at byte"), "\(String(describing: wrongMagic))")
        XCTAssertTrue("\(wrongMagic!)".contains("expected 0xCED7230A, found 0xCED723F5"), "\(String(describing: wrongMagic))")

        let pastEnd = try openDamaged { data, index in index += "9\t\(data.count + 100)\n" }
        XCTAssertTrue("\(pastEnd!)".contains("train.idx: line 7: offset"), "\(String(describing: pastEnd))")
        XCTAssertTrue("\(pastEnd!)".contains("past the end"), "\(String(describing: pastEnd))")

        // Record 0 rewritten to declare 1 identity ([4, 5]) while image 3 has label 1.
        let outside = try openDamaged { data, _ in
            var header: [UInt8] = []
            header.appendLittleEndian(Float(4)); header.appendLittleEndian(Float(5))
            data.replaceSubrange(32..<40, with: header)
        }
        XCTAssertTrue("\(outside!)".contains("record 3: label 1 outside the class range 0..<1"), "\(String(describing: outside))")

        // Found by the fuzzer: a header declaring 10^9 images must not allocate for them.
        let huge = try openDamaged { data, _ in
            var header: [UInt8] = []
            header.appendLittleEndian(Float(1e9)); header.appendLittleEndian(Float(1e9))
            data.replaceSubrange(32..<40, with: header)
        }
        XCTAssertTrue("\(huge!)".contains("record 0: the header declares 999999999 images but train.idx lists only 6 records"),
                      "\(String(describing: huge))")

        let garbled = try openDamaged { _, index in index = "0\tzero\n" }
        XCTAssertTrue("\(garbled!)".contains("line 1: expected \"key<TAB>byte offset\", found \"0\tzero\""), "\(String(describing: garbled))")

        // Found by the recordio fuzz target: an offset near 2^64 overflowed the bound check instead of failing it;
        // one past 2^64 - 1 is no number at all.
        let wrapping = try openDamaged { _, index in index = "0\t18446744073709551615\n" }
        XCTAssertTrue("\(wrapping!)".contains("line 1: offset 18446744073709551615 of key 0 is past the end"), "\(String(describing: wrapping))")
        let tooLong = try openDamaged { _, index in index = "0\t18446744073709551616\n" }
        XCTAssertTrue("\(tooLong!)".contains("line 1: expected \"key<TAB>byte offset\""), "\(String(describing: tooLong))")

        let missing = try openDamaged { _, index in index = index.split(separator: "\n").filter { !$0.hasPrefix("2\t") }.joined(separator: "\n") }
        XCTAssertTrue("\(missing!)".contains("key 2 is not in the index"), "\(String(describing: missing))")
        XCTAssertNil(try openDamaged { _, _ in }, "the undamaged set opens")
    }
}
