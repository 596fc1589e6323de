import Engine
import NN
import XCTest

/// The traced graph (what ONNX export writes and import matches) computes what the backbone's forward pass does.
final class LayerGraphTests: XCTestCase {
    func testTracedGraphComputesTheForwardPass() throws {
        let models: [(String, any UnaryLayer, Int)] = [
            ("r18 small", try TestModels.iresnet(depth: 18, widths: [8, 8, 16, 16], imageSize: 32, embeddingSize: 16), 32),
            ("r34 small", try TestModels.iresnet(depth: 34, widths: [4, 8, 8, 16], imageSize: 16, embeddingSize: 8), 16),
            ("mbf", try TestModels.mobileFaceNet(), 112),
        ]
        for (name, model, size) in models {
            let images = TestModels.images(2, size: size, seed: 11)
            let graph = try LayerGraph(tracing: model)
            XCTAssertEqual(try graph.evaluate(images).values(), try model(images).values(), name)
            // Every module with state appears in the graph exactly once.
            let traced = graph.nodes.compactMap { $0.operation.module?.name }
            XCTAssertEqual(traced.count, Set(traced).count, name)
            let stateful = Set(model.state.map { $0.name.split(separator: ".").dropLast().joined(separator: ".") })
            XCTAssertEqual(Set(traced), stateful, name)
        }
    }

    func testUntraceableModelIsRefused() {
        XCTAssertThrowsError(try LayerGraph(tracing: Module(name: "x")))
    }
}
