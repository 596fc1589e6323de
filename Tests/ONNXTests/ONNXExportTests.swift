import Engine
import Foundation
import NN
@testable import ONNX
import TensorFixtures
import XCTest

/// `ONNXExport` writes what torch2onnx.py writes; ONNX's own checker and ONNX Runtime (the committed script
/// scripts/interop/onnx_runtime_check.py, in the project's .venv-interop) judge the files, and `ONNXImport`
/// reads them back.
final class ONNXExportTests: XCTestCase {
    /// The exported r18, r50 and mbf (and r18 with its batch norms folded) pass onnx.checker and give, in ONNX
    /// Runtime, embeddings with cosine >= 0.99999 to HaarFace's, at batch sizes 1 and 7.
    func testONNXRuntimeComputesHaarFacesEmbeddings() throws {
        let python = try requireInteropPython("ONNX Runtime runs the exported models", modules: ["onnx", "onnxruntime"])
        let script = repositoryRoot.appendingPathComponent("scripts/interop/onnx_runtime_check.py").path
        let folder = try temporaryDirectory("onnx-export")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cases: [(String, () throws -> any UnaryLayer, Bool)] = [
            ("r18", { try TestModels.iresnet(depth: 18) }, false),
            ("r18-folded", { try TestModels.iresnet(depth: 18) }, true),
            ("r50", { try TestModels.iresnet(depth: 50) }, false),
            ("mbf", { try TestModels.mobileFaceNet() }, false),
        ]
        for (name, makeModel, fold) in cases {
            let model = try makeModel()
            let modelURL = folder.appendingPathComponent("\(name).onnx")
            try ONNXExport.serializedModel(of: model, imageSize: 112, foldBatchNorm: fold).write(to: modelURL)
            var arguments = [script, modelURL.path]
            var expected: [Int: [Float]] = [:]
            for count in [1, 7] {
                let images = TestModels.images(count, seed: UInt64(count))
                try writeFloats(try images.values(), to: folder.appendingPathComponent("images\(count).f32"))
                expected[count] = try model(images).values()
                arguments.append("\(folder.path)/images\(count).f32:\(count):\(folder.path)/\(name)-\(count).f32")
            }
            let run = try runProcess(python, arguments)
            XCTAssertEqual(run.status, 0, "\(name): \(run.output)")
            guard run.status == 0 else { continue }
            XCTAssertTrue(run.output.contains("\"opset\": 11"), run.output)
            for count in [1, 7] {
                let runtime = try readFloats(folder.appendingPathComponent("\(name)-\(count).f32"))
                XCTAssertEqual(runtime.count, count * 512, name)
                let cosines = rowCosines(runtime, expected[count]!, dimension: 512)
                XCTAssertGreaterThanOrEqual(cosines.min() ?? 0, 0.99999, "\(name) batch \(count): \(cosines)")
            }
            try? FileManager.default.removeItem(at: modelURL)
        }
    }

    /// Export then import gives back the same state: exactly without folding, and the same embeddings
    /// (to float rounding) with the batch norms folded into the convolutions.
    func testExportedModelsImportBack() throws {
        let models: [(String, any UnaryLayer, Int)] = [
            ("r18", try TestModels.iresnet(depth: 18, widths: [8, 8, 16, 16], imageSize: 32, embeddingSize: 16), 32),
            ("mbf", try TestModels.mobileFaceNet(), 112),
        ]
        for (name, model, size) in models {
            let images = TestModels.images(3, size: size, seed: 4)
            let expected = try model(images).values()
            for fold in [false, true] {
                let data = try ONNXExport.serializedModel(of: model, imageSize: size, foldBatchNorm: fold)
                let state = try ONNXImport.stateDict(serialized: data, file: "\(name).onnx")
                XCTAssertEqual(state.metadata["network"], name == "mbf" ? "mbf" : "r18")
                XCTAssertEqual(state.metadata["image_size"], "\(size)")
                let copy: any UnaryLayer = name == "mbf"
                    ? try MobileFaceNet(embeddingSize: 512, initialization: .zeros)
                    : try IResNet(depth: 18, widths: [8, 8, 16, 16], imageHeight: 32, imageWidth: 32, embeddingSize: 16,
                                  initialization: .zeros)
                try copy.loadState(from: state, source: name)
                copy.eval()
                copy.requireGradients(false)
                let embeddings = try copy(images).values()
                if fold {
                    let cosines = rowCosines(embeddings, expected, dimension: expected.count / 3)
                    XCTAssertGreaterThanOrEqual(cosines.min() ?? 0, 0.99999, "\(name) folded: \(cosines)")
                } else {
                    // Every parameter and running statistic comes back bit for bit (batch counters are not in ONNX).
                    for (entry, original) in zip(copy.state, model.state) {
                        switch (entry, original) {
                        case (.parameter(let parameter), .parameter(let source)):
                            XCTAssertEqual(parameter.values, source.values, "\(name) \(entry.name)")
                        case (.buffer(let buffer), .buffer(let source)):
                            XCTAssertEqual(buffer.values, source.values, "\(name) \(entry.name)")
                        default:
                            continue
                        }
                    }
                    XCTAssertEqual(embeddings, expected, name)
                }
            }
        }
    }

    /// Half-precision initializers (a model converted to float16) are read as the float32 values they hold.
    func testFloat16InitializersAreRead() throws {
        let model = try TestModels.iresnet(depth: 18, widths: [8, 8, 16, 16], imageSize: 32, embeddingSize: 16)
        var proto = try Onnx_ModelProto(serializedBytes: ONNXExport.serializedModel(of: model, imageSize: 32))
        for index in proto.graph.initializer.indices {
            let floats = proto.graph.initializer[index].rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            proto.graph.initializer[index].dataType = Int32(Onnx_TensorProto.DataType.float16.rawValue)
            proto.graph.initializer[index].rawData = floats.map { Float16($0).bitPattern }.withUnsafeBufferPointer { Data(buffer: $0) }
        }
        let state = try ONNXImport.stateDict(serialized: proto.serializedData(), file: "half.onnx")
        for entry in model.state {
            guard case .parameter(let parameter) = entry else { continue }
            XCTAssertEqual(state[entry.name]?.floats(), parameter.values.map { Float(Float16($0)) }, entry.name)
        }
    }

    func testAGraphOfAnotherShapeIsRefusedNamingTheNode() throws {
        let model = try TestModels.iresnet(depth: 18, widths: [8, 8, 16, 16], imageSize: 32, embeddingSize: 16)
        var proto = try Onnx_ModelProto(serializedBytes: ONNXExport.serializedModel(of: model, imageSize: 32))
        // A Relu where the first block's PReLU was.
        let index = try XCTUnwrap(proto.graph.node.firstIndex { $0.name == "layer1.0.prelu" })
        proto.graph.node[index].opType = "Relu"
        proto.graph.node[index].input = [proto.graph.node[index].input[0]]
        XCTAssertThrowsError(try ONNXImport.stateDict(serialized: proto.serializedData(), file: "odd.onnx")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("odd.onnx: node 'layer1.0.prelu' (Relu"), message)
            XCTAssertTrue(message.contains("expected PRelu"), message)
        }
        XCTAssertThrowsError(try ONNXImport.stateDict(serialized: Data("not a model".utf8), file: "junk.onnx")) { error in
            XCTAssertTrue("\(error)".hasPrefix("junk.onnx: "), "\(error)")
        }
    }

    /// An initializer's dimensions are checked before they are multiplied: a product past Int64 trapped (the onnx
    /// fuzz target's find, Fuzz/regressions/onnx); a negative dimension and 2^33 elements are refused too.
    func testATensorWhoseDimensionsCannotBeIsRefused() throws {
        let model = try TestModels.iresnet(depth: 18, widths: [8, 8, 16, 16], imageSize: 32, embeddingSize: 16)
        for (dims, problem) in [([Int64(1) << 40, 1 << 40], "more than 4294967296 elements"), ([3, -2], "a negative dimension"),
                                ([1 << 17, 1 << 16], "more than 4294967296 elements")] {
            var proto = try Onnx_ModelProto(serializedBytes: ONNXExport.serializedModel(of: model, imageSize: 32))
            proto.graph.initializer[0].dims = dims
            let name = proto.graph.initializer[0].name
            XCTAssertThrowsError(try ONNXImport.stateDict(serialized: proto.serializedData(), file: "dims.onnx")) { error in
                XCTAssertEqual("\(error)", "dims.onnx: tensor '\(name)' has shape \(dims), \(problem)")
            }
        }
    }
}
