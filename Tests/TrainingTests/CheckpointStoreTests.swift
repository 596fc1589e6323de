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
