import Foundation
import NN
import XCTest
@testable import Training

/// A checkpoint is refused before a backbone is built for it when its declared sizes could not be a backbone's
/// or its largest tensor cannot fill the one they describe (a damaged `image_size` built a network of billions
/// of parameters). Shapes follow insightface's IResNet: `fc` maps
/// 512 x (H/16) x (W/16) features to the embedding.
final class ModelCheckpointSizeTests: XCTestCase {
    func write(_ tensors: [String: [Int]], metadata: [String: String]) throws -> URL {
        var file = SafeTensors(metadata: metadata)
        for (name, shape) in tensors {
            file.tensors[name] = SafeTensor(float32: [Float](repeating: 0, count: shape.reduce(1, *)), shape: shape)
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sizes-\(UUID().uuidString).safetensors")
        try Data(file.encoded()).write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func assertRefused(_ url: URL, _ expected: String, line: UInt = #line) {
        XCTAssertThrowsError(try ModelCheckpoint(contentsOf: url), line: line) { error in
            XCTAssertEqual("\(error)", "\(url.path): \(expected)", line: line)
        }
    }

    func testDeclaredSizesAreCheckedBeforeBuilding() throws {
        let head = ["features.weight": [4], "fc.weight": [4, 512]]
        assertRefused(try write(head, metadata: ["network": "r18", "image_size": "1000000"]),
                      "the input size is 1000000: a backbone takes a multiple of 16 up to 1024")
        assertRefused(try write(head, metadata: ["network": "r18", "image_size": "100"]),
                      "the input size is 100: a backbone takes a multiple of 16 up to 1024")
        assertRefused(try write(head, metadata: ["network": "r18", "image_size": "112"]),
                      "'fc.weight' is [4, 512]: an r18 at 112 px with embedding 4 has [4, 25088]")
        assertRefused(try write(["features.weight": [4]], metadata: ["network": "r18", "image_size": "16"]),
                      "'fc.weight' is missing: an r18 at 16 px with embedding 4 has [4, 512]")
        // Sizes that agree get as far as loading, which names the first tensor the file lacks.
        XCTAssertThrowsError(try ModelCheckpoint(contentsOf: try write(head, metadata: ["network": "r18", "image_size": "16"]))) { error in
            XCTAssertFalse("\(error)".contains("fc.weight' is"), "\(error)")
        }
    }

    /// The fuzz targets load input after input into one backbone (`ModelCheckpoint(_:loadingInto:)`): a file
    /// refused on its last tensor leaves the backbone as it was, and the next good file loads in full.
    func testARefusedFileLeavesTheBackboneItWasLoadedIntoUnchanged() throws {
        let trained = try Backbone.make(network: "mbf", embeddingSize: 8, imageSize: 112, seed: 3)
        let good = FileManager.default.temporaryDirectory.appendingPathComponent("good-\(UUID().uuidString).safetensors")
        try trained.saveState(to: good, metadata: ["network": "mbf", "image_size": "112"])
        addTeardownBlock { try? FileManager.default.removeItem(at: good) }
        var damaged = trained.stateTensors(metadata: ["network": "mbf", "image_size": "112"])
        let last = trained.state.last!
        damaged[last.name] = SafeTensor(float32: [1, 2, 3], shape: [3])
        let damagedURL = try write([:], metadata: [:])
        try Data(damaged.encoded()).write(to: damagedURL)

        let backbone = try Backbone.make(network: "mbf", embeddingSize: 8, imageSize: 112, initialization: .zeros)
        let before = backbone.stateTensors()
        XCTAssertThrowsError(try ModelCheckpoint(ModelCheckpoint.Contents(contentsOf: damagedURL), loadingInto: backbone)) { error in
            XCTAssertTrue("\(error)".contains("'\(last.name)': has shape [3]"), "\(error)")
        }
        XCTAssertEqual(backbone.stateTensors(), before)
        let loaded = try ModelCheckpoint(ModelCheckpoint.Contents(contentsOf: good), loadingInto: backbone)
        XCTAssertEqual(loaded.backbone.stateTensors(), trained.stateTensors())
        XCTAssertEqual(loaded.network, "mbf")
        XCTAssertEqual(loaded.embeddingSize, 8)
    }
}
