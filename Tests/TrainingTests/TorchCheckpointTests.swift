import FaceData
import Foundation
import NN
import TensorFixtures
import XCTest
@testable import Training

/// arcface_torch's `torch.save(state_dict)` files, read without running their pickle, against the same tensors
/// written as safetensors by the committed script scripts/reference/torch_checkpoints.py (Debian's torch 1.13),
/// run at test time. Equal tensors give equal embeddings: the safetensors path is checked against PyTorch's
/// forward by CheckpointTests.testPyTorchLoadsOurCheckpointAndBack.
final class TorchCheckpointTests: XCTestCase {
    static var directory: URL!
    static var marker: URL!

    override class func setUp() {
        super.setUp()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pth-\(UUID().uuidString)")
        marker = FileManager.default.temporaryDirectory.appendingPathComponent("pth-marker-\(UUID().uuidString)")
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: directory)
        try? FileManager.default.removeItem(at: marker)
        super.tearDown()
    }

    /// Writes the files once per test process (the script takes a few seconds).
    func files() throws -> URL {
        let python = try requirePyTorch("HaarFace reads torch.save files")
        if !FileManager.default.fileExists(atPath: Self.directory.appendingPathComponent("evil.pth").path) {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("scripts/reference/torch_checkpoints.py").path
            let run = try runProcess(python, [script, Self.directory.path, Self.marker.path])
            XCTAssertEqual(run.status, 0, run.output)
        }
        return Self.directory
    }

    func assertSameTensors(_ got: SafeTensors, _ expected: SafeTensors, rounding: ((Float) -> Float)? = nil,
                           _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Set(got.tensors.keys), Set(expected.tensors.keys), name, file: file, line: line)
        for (key, tensor) in expected.tensors {
            guard let other = got[key] else { continue }
            XCTAssertEqual(other.shape, tensor.shape, "\(name) \(key)", file: file, line: line)
            if tensor.dtype == .int64 {
                XCTAssertEqual(other.dtype, .int64, "\(name) \(key)", file: file, line: line)
                XCTAssertEqual(other.bytes, tensor.bytes, "\(name) \(key)", file: file, line: line)
            } else {
                let values = tensor.floats().map { rounding?($0) ?? $0 }
                XCTAssertEqual(other.floats(), values, "\(name) \(key)", file: file, line: line)
            }
        }
    }

    func testStateDictsReadAsTheSameTensors() throws {
        let folder = try files()
        let reference = try SafeTensors.read(contentsOf: folder.appendingPathComponent("small.safetensors"))
        XCTAssertGreaterThan(reference.tensors.count, 50)
        for name in ["small_f32", "small_ddp", "small_view", "small_wrapped", "small_legacy"] {
            let url = folder.appendingPathComponent("\(name).pth")
            XCTAssertTrue(TorchCheckpoint.isTorchSave(url), name)
            assertSameTensors(try TorchCheckpoint.read(contentsOf: url), reference, name)
        }
        // Half precision: the float32 values the file's float16 / bfloat16 hold, exactly.
        assertSameTensors(try TorchCheckpoint.read(contentsOf: folder.appendingPathComponent("small_f16.pth")), reference,
                          rounding: { Float(Float16($0)) }, "float16")
        assertSameTensors(try TorchCheckpoint.read(contentsOf: folder.appendingPathComponent("small_bf16.pth")), reference,
                          rounding: { Float(bitPattern: (($0.bitPattern &+ 0x7FFF &+ (($0.bitPattern >> 16) & 1)) >> 16) << 16) },
                          "bfloat16")
        XCTAssertFalse(TorchCheckpoint.isTorchSave(folder.appendingPathComponent("small.safetensors")))
    }

    /// The full-width IResNet-18 loads through every --checkpoint command's loader, its depth told from the keys.
    func testModelCheckpointLoadsATorchSaveFileAndTellsTheDepth() throws {
        let folder = try files()
        let fromTorch = try ModelCheckpoint(contentsOf: folder.appendingPathComponent("r18.pth"))
        let fromSafeTensors = try ModelCheckpoint(contentsOf: folder.appendingPathComponent("r18.safetensors"), network: "r18")
        XCTAssertEqual(fromTorch.network, "r18")
        XCTAssertEqual(fromTorch.embeddingSize, 32)
        XCTAssertEqual(fromTorch.imageSize, 16)
        let got = fromTorch.backbone.stateTensors(metadata: [:]), expected = fromSafeTensors.backbone.stateTensors(metadata: [:])
        assertSameTensors(got, expected, "r18")
        // IResNet-50 saved in float16, and MobileFaceNet, both told from their keys.
        for (name, reference, network, embedding, size) in [("r50_f16.pth", "r50.safetensors", "r50", 32, 16),
                                                             ("mbf.pth", "mbf.safetensors", "mbf", 512, 112)] {
            let model = try ModelCheckpoint(contentsOf: folder.appendingPathComponent(name))
            XCTAssertEqual([model.network, "\(model.embeddingSize)", "\(model.imageSize)"], [network, "\(embedding)", "\(size)"], name)
            let expected = try ModelCheckpoint(contentsOf: folder.appendingPathComponent(reference), network: network)
            assertSameTensors(model.backbone.stateTensors(metadata: [:]), expected.backbone.stateTensors(metadata: [:]), name)
        }
    }

    /// A pickle that would call os.system under torch.load is refused by name, and nothing runs.
    /// A flipped byte in a stored tensor is caught by the entry's CRC-32 (checked with zlib), naming the entry.
    func testADamagedStorageIsCaughtByItsChecksum() throws {
        let folder = try files()
        var bytes = try Data(contentsOf: folder.appendingPathComponent("r18.pth"))
        bytes[bytes.count / 2] ^= 0x40   // the middle of the file is tensor data: the storages are nearly all of it
        let damaged = folder.appendingPathComponent("damaged.pth")
        try bytes.write(to: damaged)
        XCTAssertThrowsError(try TorchCheckpoint.read(contentsOf: damaged)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(damaged.path) && message.contains("/data/") && message.contains("is damaged: its CRC-32"), message)
        }
    }

    /// A storage whose central directory entry claims more bytes than the file holds is refused by name before
    /// anything is read (ZIPFoundation would read 1 MiB buffers up to the claim). The sizes' offsets in a central
    /// directory file header are APPNOTE 4.3.12's.
    func testAStorageClaimingMoreBytesThanTheFileIsRefused() throws {
        let folder = try files()
        var bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent("r18.pth")))
        let signature: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        // The central directory is the file's tail: searched from the end, the storages' 100 MB are never read.
        let header = try XCTUnwrap(stride(from: bytes.count - 46, through: 0, by: -1).first { at in
            guard bytes[at] == signature[0], Array(bytes[at..<(at + 4)]) == signature else { return false }
            let nameLength = Int(bytes[at + 28]) | Int(bytes[at + 29]) << 8
            return String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self).contains("/data/")
        }, "a storage entry in r18.pth's central directory")
        for offset in [20, 24] { bytes.replaceSubrange((header + offset)..<(header + offset + 4), with: [0xF0, 0xFF, 0xFF, 0xFF]) }
        let damaged = folder.appendingPathComponent("oversized.pth")
        try Data(bytes).write(to: damaged)
        XCTAssertThrowsError(try TorchCheckpoint.read(contentsOf: damaged)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(damaged.path) && message.contains("/data/")
                          && message.contains("the archive says it holds 4294967280 bytes, in a file of \(bytes.count)"), message)
        }
    }

    func testAPickleThatRunsCodeIsRefusedWithoutRunningIt() throws {
        let url = try files().appendingPathComponent("evil.pth")
        XCTAssertThrowsError(try TorchCheckpoint.read(contentsOf: url)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("refusing global posix.system"), text)
            XCTAssertTrue(text.contains("evil.pth"), text)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: Self.marker.path), "the pickle's command must never run")
        XCTAssertThrowsError(try ModelCheckpoint(contentsOf: url))
    }
}
