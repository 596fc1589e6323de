import Engine
import Foundation
import NN
import TensorFixtures
import XCTest
@testable import Training

/// ONNX files exported from the PyTorch reference models by torch.onnx.export (the committed script
/// scripts/reference/torch_onnx.py, Debian's torch 1.13, run at test time) load through every --checkpoint
/// command's loader and give PyTorch's embeddings.
final class ONNXImportTests: XCTestCase {
    func testTorchExportedModelsGivePyTorchsEmbeddings() throws {
        let python = try requirePyTorch("HaarFace reads ONNX files that torch.onnx.export writes")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("torch-onnx-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = repositoryRoot.appendingPathComponent("scripts/reference/torch_onnx.py").path
        let run = try runProcess(python, [script, folder.path])
        XCTAssertEqual(run.status, 0, run.output)
        guard run.status == 0 else { return }
        let images = try floats(folder.appendingPathComponent("images.f32"))
        for name in ["r18", "mbf"] {
            let checkpoint = try ModelCheckpoint(contentsOf: folder.appendingPathComponent("\(name).onnx"))
            XCTAssertEqual(checkpoint.network, name)
            XCTAssertEqual(checkpoint.embeddingSize, 512)
            XCTAssertEqual(checkpoint.imageSize, 112)
            checkpoint.backbone.eval()
            checkpoint.backbone.requireGradients(false)
            let embeddings = try checkpoint.backbone(Tensor(shape: [5, 3, 112, 112], values: images)).values()
            let expected = try floats(folder.appendingPathComponent("\(name).embeddings.f32"))
            for row in 0..<5 {
                let a = embeddings[row * 512..<(row + 1) * 512], b = expected[row * 512..<(row + 1) * 512]
                let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let norms = (a.reduce(0.0) { $0 + Double($1 * $1) } * b.reduce(0.0) { $0 + Double($1 * $1) }).squareRoot()
                XCTAssertGreaterThanOrEqual(dot / norms, 0.9999, "\(name) image \(row)")
            }
        }
    }

    func testAnUnreadableONNXFileNamesTheFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).onnx")
        try Data([0x08, 0x06, 0x3A, 0xFF, 0xFF]).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try ModelCheckpoint(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains(url.path), "\(error)")
        }
    }

    private func floats(_ url: URL) throws -> [Float] {
        try Data(contentsOf: url).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
