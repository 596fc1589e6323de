import Foundation
import XCTest
import Engine
@testable import NN

/// State names, shapes and parameter counts against PyTorch: Fixtures/model_keys.json, written by
/// scripts/reference/nn_fixtures.py from scripts/reference/models.py (torch 1.13), whose counts equal
/// insightface's (r18 24.03M, r34 34.14M, r50 43.59M, r100 65.16M, r200 118.83M, mbf 2.06M).
final class ModelStateTests: XCTestCase {
    struct Reference {
        var parameterCount: Int
        /// (key, shape, kind) in state_dict order; kind is parameter, frozen or buffer.
        var state: [(String, [Int], String)]
    }

    static let references: [String: Reference] = {
        let data = try! Data(contentsOf: Fixtures.directory.appendingPathComponent("model_keys.json"))
        let json = try! JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
        return json.mapValues { model in
            let entries = (model["state"] as! [[Any]]).map { ($0[0] as! String, $0[1] as! [Int], $0[2] as! String) }
            return Reference(parameterCount: model["parameter_count"] as! Int, state: entries)
        }
    }()

    func check(_ model: Module, against name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try XCTUnwrap(Self.references[name])
        let ours = model.state.map { entry -> (String, [Int], String) in
            switch entry {
            case .parameter(let parameter): return (parameter.name, parameter.shape, parameter.isTrainable ? "parameter" : "frozen")
            case .buffer(let buffer): return (buffer.name, buffer.shape, "buffer")
            case .counter(let counter): return (counter.name, [], "buffer")
            }
        }
        XCTAssertEqual(ours.count, reference.state.count, "\(name): number of state entries", file: file, line: line)
        for (index, (mine, theirs)) in zip(ours, reference.state).enumerated() where mine != theirs {
            XCTFail("\(name) entry \(index): \(mine) but PyTorch has \(theirs)", file: file, line: line)
            break
        }
        XCTAssertEqual(model.parameterCount, reference.parameterCount, "\(name): parameter count", file: file, line: line)
    }

    func testIResNetStateMatchesPyTorchForEveryDepth() throws {
        for depth in [18, 34, 50, 100, 200] {
            // Zero-initialised: the structure is what is compared, and r200 is 475 MB of parameters.
            try check(IResNet(depth: depth, initialization: .zeros), against: "r\(depth)")
        }
    }

    func testMobileFaceNetStateMatchesPyTorch() throws {
        try check(MobileFaceNet(initialization: .zeros), against: "mbf")
    }

    func testCountsForwardMultiplyAddsAsTheReference() throws {
        // forward_macs_112 in model_keys.json: models.forward_macs (convs + linear, one 112x112 image).
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.directory
            .appendingPathComponent("model_keys.json"))) as! [String: [String: Any]]
        let images = Tensor(shape: [2, 3, 112, 112], repeating: 0.5)
        let r18 = try IResNet(depth: 18, initialization: .zeros)
        r18.eval()
        _ = try r18(images)
        XCTAssertEqual(r18.multiplyAddsPerImage, json["r18"]?["forward_macs_112"] as? Int)
        let mbf = try MobileFaceNet(initialization: .zeros)
        mbf.eval()
        let embedding = try mbf(images)
        XCTAssertEqual(embedding.shape, [2, 512])
        XCTAssertEqual(mbf.multiplyAddsPerImage, json["mbf"]?["forward_macs_112"] as? Int)
    }

    func testFcInputFollowsTheImageSize() throws {
        // fc input = 512 * (H/16) * (W/16): 512 * 8 * 6 for 128x96.
        let model = try IResNet(depth: 18, imageHeight: 128, imageWidth: 96, initialization: .zeros)
        XCTAssertEqual(model.fc.weight.shape, [512, 512 * 8 * 6])
        XCTAssertThrowsError(try IResNet(depth: 18, imageHeight: 100, imageWidth: 112, initialization: .zeros))
        XCTAssertThrowsError(try IResNet(depth: 19, initialization: .zeros))
        XCTAssertThrowsError(try MobileFaceNet(imageSize: 96, initialization: .zeros))
    }

    func testInitialisationFollowsInsightface() throws {
        let model = try IResNet(depth: 18, widths: [8, 8, 16, 16], imageHeight: 32, imageWidth: 32,
                                embeddingSize: 16, initialization: .random(seed: 7))
        // Conv weights N(0, 0.1): the sample std of layer4.0.conv2 (16*16*9 = 2304 draws) is within
        // 10% of 0.1 (the standard error of a sample std is std / sqrt(2n) = 1.5%).
        let conv = model.stages[3][0].conv2.weight.values
        let mean = conv.reduce(0, +) / Float(conv.count)
        let std = (conv.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(conv.count)).squareRoot()
        XCTAssertEqual(std, 0.1, accuracy: 0.01)
        XCTAssertEqual(model.bn1.weight.values, [Float](repeating: 1, count: 8))
        XCTAssertEqual(model.bn1.bias.values, [Float](repeating: 0, count: 8))
        XCTAssertEqual(model.prelu.weight.values, [Float](repeating: 0.25, count: 8))
        XCTAssertEqual(model.features.weight.values, [Float](repeating: 1, count: 16))
        XCTAssertFalse(model.features.weight.isTrainable)
        // Linear: U(+-1/sqrt(fan_in)), fan_in = 16 * 2 * 2 = 64, so every value lies within 0.125.
        XCTAssertTrue(model.fc.weight.values.allSatisfy { abs($0) <= 0.125 })
        XCTAssertGreaterThan(model.fc.weight.values.map(abs).max()!, 0.1)
        // The same seed builds the same model.
        let again = try IResNet(depth: 18, widths: [8, 8, 16, 16], imageHeight: 32, imageWidth: 32,
                                embeddingSize: 16, initialization: .random(seed: 7))
        XCTAssertEqual(again.stages[3][0].conv2.weight.values, conv)
        XCTAssertEqual(model.trainableParameters.count, model.parameters.count - 1)
    }
}
