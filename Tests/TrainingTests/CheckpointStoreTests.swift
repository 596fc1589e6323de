import Foundation
import XCTest
@testable import Training

final class CheckpointStoreTests: XCTestCase {
    func testNewCheckpointReplacesTheOldOnlyWhenComplete() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CheckpointStore(directory: directory)
        XCTAssertNil(store.latest())

        try store.write(["state.json": Data("1".utf8), "model.safetensors": Data([1, 2, 3])])
        try store.write(["state.json": Data("2".utf8), "model.safetensors": Data([4, 5, 6])])
        let latest = try XCTUnwrap(store.latest())
        XCTAssertEqual(try Data(contentsOf: latest.appendingPathComponent("state.json")), Data("2".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["checkpoint"])

        // A crash between the two renames leaves only checkpoint.previous (and maybe a partial): it is used.
        try FileManager.default.moveItem(at: latest, to: directory.appendingPathComponent("checkpoint.previous"))
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("checkpoint.partial"),
                                                withIntermediateDirectories: true)
        XCTAssertEqual(store.latest()?.lastPathComponent, "checkpoint.previous")
        try store.write(["state.json": Data("3".utf8)])
        XCTAssertEqual(try Data(contentsOf: store.latest()!.appendingPathComponent("state.json")), Data("3".utf8))
    }
}

/// manifest.txt: what `--resume` checks each checkpoint file against before it changes anything.
final class CheckpointManifestTests: XCTestCase {
    private var directory: URL!
    private var folder: URL { directory.appendingPathComponent("checkpoint") }

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try CheckpointStore(directory: directory).write(["state.json": Data("{\"step\": 3}".utf8), "model.safetensors": Data([1, 2, 3, 4])])
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func assertRefused(_ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try CheckpointStore.verify(folder), file: file, line: line) { error in
            XCTAssertEqual("\(error)", expected, file: file, line: line)
        }
    }

    /// The manifest lists each file's CRC-32, size and name, and ends with the CRC-32 of its lines. The
    /// checksums are Python's: zlib.crc32(bytes([1, 2, 3, 4])) is 0xb63cfbcd, zlib.crc32(b'{"step": 3}') 0x08b1f3bf.
    func testManifestListsEveryFileAndItsOwnChecksum() throws {
        let text = try String(contentsOf: folder.appendingPathComponent("manifest.txt"), encoding: .utf8)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(Array(lines.prefix(3)), ["haarface-checkpoint-manifest-1", "b63cfbcd 4 model.safetensors",
                                                "08b1f3bf 11 state.json"])
        let body = Data(text.utf8).prefix(text.utf8.count - lines[3].utf8.count - 1)
        XCTAssertEqual(lines[3], "\(String(format: "%08x", CheckpointManifest.crc32(body))) manifest.txt")
        XCTAssertTrue(try CheckpointStore.verify(folder))
    }

    func testTruncatedAndDamagedFilesAreNamed() throws {
        let model = folder.appendingPathComponent("model.safetensors")
        try Data([1, 2, 3]).write(to: model)
        assertRefused("\(model.path): truncated: expected 4 bytes (manifest.txt), found 3")
        try Data([1, 2, 3, 4, 5]).write(to: model)
        assertRefused("\(model.path): too long: expected 4 bytes (manifest.txt), found 5")
        try Data([1, 2, 3, 5]).write(to: model)
        assertRefused("\(model.path): damaged: its CRC-32 is \(String(format: "%08x", CheckpointManifest.crc32(Data([1, 2, 3, 5])))), manifest.txt says b63cfbcd")
        try FileManager.default.removeItem(at: model)
        assertRefused("\(model.path): missing or unreadable (the manifest lists it: 4 bytes)")
    }

    /// Damage to the manifest is blamed on the manifest, not on the file whose line it changed.
    func testADamagedManifestIsNamed() throws {
        let manifest = folder.appendingPathComponent("manifest.txt")
        let original = try Data(contentsOf: manifest)
        var flipped = original
        flipped[flipped.firstIndex(of: UInt8(ascii: "4"))!] = UInt8(ascii: "5")   // model.safetensors' size
        try flipped.write(to: manifest)
        XCTAssertThrowsError(try CheckpointStore.verify(folder)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(manifest.path): damaged: the CRC-32 of its lines is "), "\(error)")
        }
        try original.prefix(original.count - 1).write(to: manifest)
        assertRefused("\(manifest.path): truncated or damaged: it does not end with its own CRC-32 line ('<crc32> manifest.txt')")
    }

    /// A checkpoint from before manifests is not refused: `verify` says it could not check it.
    func testACheckpointWithoutAManifestIsReportedUnchecked() throws {
        try FileManager.default.removeItem(at: folder.appendingPathComponent("manifest.txt"))
        XCTAssertFalse(try CheckpointStore.verify(folder))
    }
}
