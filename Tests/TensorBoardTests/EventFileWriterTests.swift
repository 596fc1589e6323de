import Foundation
import TensorBoard
import TensorFixtures
import XCTest

final class EventFileWriterTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tensorboard-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func contents(_ writer: EventFileWriter) throws -> [UInt8] {
        try writer.flush()
        return [UInt8](try Data(contentsOf: writer.url))
    }

    /// A file's first record (the file version) and one scalar, byte for byte. Expected bytes: TensorBoard's own
    /// writer, scripts/interop/write_tensorboard_records.py (tensorboard 2.21.0), given
    /// [{"wall_time": 1700000000.25, "step": 0, "file_version": "brain.Event:2", "writer": "haarface"},
    ///  {"wall_time": 1700000001.5, "step": 7, "scalars": [["loss", 1093140480]]}]   (0x41280000 is 10.5).
    func testRecordsAreTensorBoardsBytes() throws {
        let writer = try EventFileWriter.create(in: directory, writer: "haarface", wallTime: 1_700_000_000.25)
        try writer.addScalars([("loss", 10.5)], step: 7, wallTime: 1_700_000_001.5)
        let expected: [UInt8] = [
            // record 1: length 36, its masked CRC
            0x24, 0, 0, 0, 0, 0, 0, 0, 0x42, 0x2B, 0x80, 0x4D,
            // Event: wall_time (field 1, double), file_version (field 3), source_metadata.writer (field 10)
            0x09, 0x00, 0x00, 0x10, 0x40, 0xFC, 0x54, 0xD9, 0x41,
            0x1A, 0x0D] + Array("brain.Event:2".utf8) + [0x52, 0x0A, 0x0A, 0x08] + Array("haarface".utf8) + [
            // the data's masked CRC
            0xAE, 0x10, 0x97, 0x00,
            // record 2: length 26, its masked CRC
            0x1A, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x9B, 0xD8, 0x2D,
            // Event: wall_time, step 7 (field 2), summary (field 5) { value { tag "loss", simple_value 10.5 } }
            0x09, 0x00, 0x00, 0x60, 0x40, 0xFC, 0x54, 0xD9, 0x41, 0x10, 0x07,
            0x2A, 0x0D, 0x0A, 0x0B, 0x0A, 0x04] + Array("loss".utf8) + [0x15, 0x00, 0x00, 0x28, 0x41,
            0x20, 0xB3, 0xC3, 0x1A,
        ]
        XCTAssertEqual(try contents(writer), expected)
    }

    /// The events a training run writes (several scalars per step, NaN, large steps, a UTF-8 tag), byte for byte
    /// against TensorBoard's own writer: scripts/interop/write_tensorboard_records.py run now.
    func testEventsMatchTensorBoardsWriterByteForByte() throws {
        let python = try requireInteropPython("HaarFace's event records are TensorBoard's, byte for byte", modules: ["tensorboard"])
        let events: [(step: Int, wallTime: Double, scalars: [(tag: String, value: Float)])] = [
            (1, 1_767_225_600.123456, [("loss", 45.678901), ("learning_rate", 0.1), ("images_per_second", 321.45)]),
            (2, 1_767_225_600.5, [("loss", .nan), ("learning_rate", 1e-7), ("mhlr/haar_response", -0.0123)]),
            (1 << 40, 1_767_225_601, [("lfw", 0.99583334), ("cfp_fp", 0), ("größe/µ", -.infinity)]),
        ]
        let writer = try EventFileWriter.create(in: directory, writer: "haarface", wallTime: 1_767_225_599.75)
        for event in events { try writer.addScalars(event.scalars, step: event.step, wallTime: event.wallTime) }
        let written = try contents(writer)

        var specification: [[String: Any]] = [
            ["wall_time": 1_767_225_599.75, "step": 0, "file_version": EventFileWriter.fileVersion, "writer": "haarface"],
        ]
        for event in events {
            specification.append(["wall_time": event.wallTime, "step": event.step,
                                  "scalars": event.scalars.map { [$0.tag, $0.value.bitPattern] as [Any] }])
        }
        let spec = directory.appendingPathComponent("events.json"), reference = directory.appendingPathComponent("reference")
        try JSONSerialization.data(withJSONObject: specification).write(to: spec)
        let run = try runProcess("/bin/sh", ["-c", "'\(python)' '\(repositoryRoot.path)/scripts/interop/write_tensorboard_records.py' '\(reference.path)' < '\(spec.path)'"])
        XCTAssertEqual(run.status, 0, run.output)
        let expected = [UInt8](try Data(contentsOf: reference))
        XCTAssertEqual(written.count, expected.count)
        if let first = zip(written, expected).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
            XCTFail("byte \(first.offset) is \(first.element.0), TensorBoard's writer has \(first.element.1)")
        }
    }

    /// Named as TensorBoard's writer names its files: events.out.tfevents.<10-digit seconds>.<host>.<pid>.<n>,
    /// n counting up when a file of that name exists (two writers in one second).
    func testFileNamesFollowTensorBoardsAndDoNotCollide() throws {
        let first = try EventFileWriter.create(in: directory, writer: "haarface", wallTime: 1_700_000_000.9)
        let second = try EventFileWriter.create(in: directory, writer: "haarface", wallTime: 1_700_000_000.1)
        var host = [CChar](repeating: 0, count: 256)
        XCTAssertEqual(gethostname(&host, 255), 0)
        let stem = "events.out.tfevents.1700000000.\(String(cString: host)).\(ProcessInfo.processInfo.processIdentifier)"
        XCTAssertEqual(first.url.lastPathComponent, stem + ".0")
        XCTAssertEqual(second.url.lastPathComponent, stem + ".1")
        XCTAssertEqual(try contents(second).count, try contents(first).count)
    }

    /// Records wait in the buffer until a flush, 16 KiB of them, or `bufferSeconds` after the oldest.
    func testWritesAreBufferedUntilFlushSizeOrAge() throws {
        let writer = try EventFileWriter.create(in: directory, writer: "haarface", wallTime: 100)
        let header = try Data(contentsOf: writer.url).count
        XCTAssertEqual(header, 36 + TFRecord.overhead, "the file version record is written at once")
        try writer.addScalars([("loss", 1)], step: 1, wallTime: 101)
        XCTAssertEqual(try Data(contentsOf: writer.url).count, header, "buffered")
        try writer.addScalars([("loss", 2)], step: 2, wallTime: 101 + EventFileWriter.bufferSeconds)
        let aged = try Data(contentsOf: writer.url).count
        XCTAssertGreaterThan(aged, header, "written once the oldest record has waited bufferSeconds")
        let state = try writer.flush()
        XCTAssertEqual(state, EventFileState(fileName: writer.url.lastPathComponent, bytes: UInt64(aged)))
        for step in 3..<1000 { try writer.addScalars([("loss", Float(step))], step: step, wallTime: 200) }
        XCTAssertGreaterThan(try Data(contentsOf: writer.url).count, aged + 1 << 14 - 100, "written once 16 KiB wait")
    }

    /// A resumed run continues the file from the checkpoint's size: what was written after it is cut off, so
    /// the file ends as if the run had never stopped.
    func testReopenCutsBackToTheStateAndAppends() throws {
        let whole = try EventFileWriter.create(in: directory.appendingPathComponent("whole"), writer: "haarface", wallTime: 5)
        let resumed = try EventFileWriter.create(in: directory.appendingPathComponent("resumed"), writer: "haarface", wallTime: 5)
        for step in 1...4 { try whole.addScalars([("loss", Float(step))], step: step, wallTime: 6) }
        for step in 1...2 { try resumed.addScalars([("loss", Float(step))], step: step, wallTime: 6) }
        let checkpoint = try resumed.flush()
        for step in 3...3 { try resumed.addScalars([("loss", -1)], step: step, wallTime: 6) }   // lost at the crash
        try resumed.flush()
        let reopened = try EventFileWriter.reopen(checkpoint, in: directory.appendingPathComponent("resumed"))
        XCTAssertEqual(try Data(contentsOf: reopened.url).count, Int(checkpoint.bytes))
        for step in 3...4 { try reopened.addScalars([("loss", Float(step))], step: step, wallTime: 6) }
        XCTAssertEqual(try contents(reopened), try contents(whole))
    }

    func testReopeningAMissingOrShortenedFileIsAnError() throws {
        let writer = try EventFileWriter.create(in: directory, writer: "haarface", wallTime: 5)
        var state = try writer.flush()
        state.bytes += 1
        XCTAssertThrowsError(try EventFileWriter.reopen(state, in: directory)) {
            XCTAssertEqual("\($0)", "\(writer.url.path): the event file has \(state.bytes - 1) bytes, fewer than the \(state.bytes) it had at the checkpoint")
        }
        state.fileName = "events.out.tfevents.gone"
        XCTAssertThrowsError(try EventFileWriter.reopen(state, in: directory)) {
            XCTAssertTrue("\($0)".hasSuffix("events.out.tfevents.gone: cannot open the event file to continue it"), "\($0)")
        }
    }
}
