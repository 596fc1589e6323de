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
}
