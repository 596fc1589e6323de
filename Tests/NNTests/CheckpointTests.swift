import Foundation
import TensorFixtures
import XCTest
import Engine
@testable import NN

/// Saving and loading a model's state with PyTorch's keys.
final class CheckpointTests: XCTestCase {
    func smallModel(seed: UInt64) throws -> IResNet {
        try IResNet(depth: 18, widths: [8, 8, 16, 16], imageHeight: 32, imageWidth: 32, embeddingSize: 16,
                    initialization: .random(seed: seed))
    }

    func testRoundTripsEveryEntry() throws {
        let model = try smallModel(seed: 1)
        model.bn1.numBatchesTracked.value = 12
        model.bn1.runningVar.values = (0..<8).map { Float($0) + 0.5 }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.saveState(to: url, metadata: ["step": "3"])

        let file = try SafeTensors.read(contentsOf: url)
        XCTAssertEqual(file.metadata, ["step": "3"])
        XCTAssertEqual(file["bn1.num_batches_tracked"]?.dtype, .int64)
        XCTAssertEqual(file["bn1.num_batches_tracked"]?.shape, [])
        XCTAssertEqual(file["conv1.weight"]?.dtype, .float32)

        let copy = try smallModel(seed: 2)
        try copy.loadState(contentsOf: url)
        for (a, b) in zip(model.state, copy.state) {
            XCTAssertEqual(a.name, b.name)
        }
        XCTAssertEqual(copy.stateTensors(), model.stateTensors())
        XCTAssertEqual(copy.bn1.numBatchesTracked.value, 12)
    }

    func testBFloat16CheckpointLoadsRounded() throws {
        let model = try smallModel(seed: 1)
        let file = model.stateTensors(precision: .bfloat16)
        XCTAssertEqual(file["fc.weight"]?.dtype, .bfloat16)
        let copy = try smallModel(seed: 2)
        try copy.loadState(from: file)
        // bf16 keeps 8 significant bits: rounding to nearest errs by at most half an ulp, 2^-8 relative.
        assertClose(copy.fc.weight.values, model.fc.weight.values, rtol: 1.0 / 256, atol: 0, "bf16 fc.weight")
    }

    func testRefusesAFileThatDoesNotFitNamingTheTensor() throws {
        let model = try smallModel(seed: 1)
        let good = model.stateTensors()
        let before = model.stateTensors()

        func refusal(_ edit: (inout SafeTensors) -> Void) -> String {
            var file = good
            edit(&file)
            do {
                try model.loadState(from: file, source: "ckpt.safetensors")
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        let missing = refusal { $0.tensors["layer2.1.bn3.running_var"] = nil }
        XCTAssertTrue(missing.contains("ckpt.safetensors") && missing.contains("missing keys layer2.1.bn3.running_var"), missing)
        let extra = refusal { $0["head.weight"] = SafeTensor(float32: [1], shape: [1]) }
        XCTAssertTrue(extra.contains("unexpected keys head.weight"), extra)
        let shape = refusal { $0["fc.weight"] = SafeTensor(float32: [Float](repeating: 0, count: 16 * 16), shape: [16, 16]) }
        XCTAssertTrue(shape.contains("'fc.weight'") && shape.contains("[16, 16]") && shape.contains("[16, 64]"), shape)
        let dtype = refusal { $0["bn1.num_batches_tracked"] = SafeTensor(float32: [1], shape: []) }
        XCTAssertTrue(dtype.contains("'bn1.num_batches_tracked'") && dtype.contains("expected I64"), dtype)
        let floatAsInteger = refusal { $0["bn1.bias"] = SafeTensor(int64: [Int64](repeating: 0, count: 8), shape: [8]) }
        XCTAssertTrue(floatAsInteger.contains("'bn1.bias'") && floatAsInteger.contains("F32 or BF16"), floatAsInteger)
        // Nothing changed by the refused loads.
        XCTAssertEqual(model.stateTensors(), before)
    }

    func testLoadsUnderAPrefixIgnoringOtherKeys() throws {
        let model = try smallModel(seed: 1)
        var file = SafeTensors()
        for (name, tensor) in model.stateTensors().tensors { file["backbone." + name] = tensor }
        file["head.weight"] = SafeTensor(float32: [1, 2], shape: [2, 1])
        let copy = try smallModel(seed: 2)
        try copy.loadState(from: file, prefix: "backbone.")
        XCTAssertEqual(copy.stateTensors(), model.stateTensors())
    }

    /// Our checkpoint loads into the PyTorch reference model with load_state_dict(strict=True) and gives the
    /// same evaluation-mode embeddings; the state_dict PyTorch saves back loads here unchanged.
    /// Runs scripts/reference/models.py roundtrip; needs /usr/bin/python3 with torch and numpy.
    func testPyTorchLoadsOurCheckpointAndBack() throws {
        let python = try requirePyTorch("PyTorch loads our checkpoints")
        let model = try smallModel(seed: 5)
        // Non-trivial running statistics, so the evaluation forward depends on them.
        for case .buffer(let buffer) in model.state {
            buffer.values = buffer.values.enumerated().map { index, value in value + 0.05 * Float(index % 5) }
        }
        model.bn1.numBatchesTracked.value = 9
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let ours = directory.appendingPathComponent("haarface.safetensors")
        let theirs = directory.appendingPathComponent("torch.safetensors")
        try model.saveState(to: ours)

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/reference/models.py").path
        let result = try runProcess(python, [script, "roundtrip", ours.path, theirs.path, "18", "8,8,16,16", "32", "16"])
        XCTAssertEqual(result.status, 0, result.output)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], result.output)
        let torchEmbedding = try XCTUnwrap(json["embedding"] as? [Double]).map { Float($0) }

        model.eval()
        let embedding = try model(Formula.images(batch: 2, size: 32)).values()
        // One float32 forward pass each (torch and oneDNN summing in different orders) of O(1) values.
        assertClose(embedding, torchEmbedding, rtol: 1e-4, atol: 1e-5, "evaluation embedding vs PyTorch")

        let back = try smallModel(seed: 6)
        try back.loadState(contentsOf: theirs)
        XCTAssertEqual(back.stateTensors(), model.stateTensors())
    }
}
