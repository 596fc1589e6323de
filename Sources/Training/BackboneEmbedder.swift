import Engine
import FaceData
import FaceEval
import NN

/// A backbone used for inference: images in, raw (unnormalised) embeddings out, in evaluation mode and
/// without recording a graph. The model's training mode is restored afterwards.
public final class BackboneEmbedder: FaceEmbedder {
    public let backbone: any UnaryLayer
    public let imageSize: Int
    public let batchSize: Int

    public init(backbone: any UnaryLayer, imageSize: Int, batchSize: Int? = nil) {
        self.backbone = backbone
        self.imageSize = imageSize
        self.batchSize = batchSize ?? Self.batchSize(imageSize: imageSize)
    }

    /// Images per forward pass: 64 at 112x112 and, for smaller images, as many as hold the same pixels, up to
    /// 256 (at 16x16, 256 images ran 1.56x as fast as 64: `haarface bench embed --image-size 16`).
    public static func batchSize(imageSize: Int) -> Int {
        min(256, max(64, 64 * 112 * 112 / max(1, imageSize * imageSize)))
    }

    public func embed(_ images: [RGBImage]) throws -> [[Float]] {
        let wasTraining = backbone.isTraining
        let hadGradients = backbone.gradientsEnabled
        backbone.eval()
        backbone.requireGradients(false)
        defer {
            backbone.train(wasTraining)
            backbone.requireGradients(hadGradients)
        }
        var rows: [[Float]] = []
        rows.reserveCapacity(images.count)
        var start = 0
        let plane = 3 * imageSize * imageSize
        while start < images.count {
            let chunk = images[start ..< min(images.count, start + batchSize)]
            var pixels = [Float]()
            pixels.reserveCapacity(chunk.count * plane)
            for image in chunk {
                pixels += ModelInput.planes(of: image, width: imageSize, height: imageSize, flipped: false)
            }
            let output = try backbone(Tensor(shape: [chunk.count, 3, imageSize, imageSize], values: pixels))
            let values = try output.values()
            let dimension = values.count / chunk.count
            for row in 0 ..< chunk.count {
                rows.append(Array(values[row * dimension ..< (row + 1) * dimension]))
            }
            start += chunk.count
        }
        return rows
    }
}
