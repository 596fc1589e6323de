import FaceData

/// Turns aligned face images (112x112 RGB for the usual backbones) into embeddings, one row per image.
/// The trainer plugs its model in here (pixel normalisation, (x/255 - 0.5)/0.5, is the embedder's job);
/// tests plug in fakes.
public protocol FaceEmbedder {
    /// One embedding per image, in order, all of the same dimension. Not normalised.
    func embed(_ images: [RGBImage]) throws -> [[Float]]
}

/// A `FaceEmbedder` made from a closure.
public struct ClosureEmbedder: FaceEmbedder {
    private let body: ([RGBImage]) throws -> [[Float]]

    public init(_ body: @escaping ([RGBImage]) throws -> [[Float]]) {
        self.body = body
    }

    public func embed(_ images: [RGBImage]) throws -> [[Float]] { try body(images) }
}

extension FaceEmbedder {
    /// Embeds `images` in batches of `batchSize` and checks the embedder's output shape.
    func embedChecked(_ images: [RGBImage], batchSize: Int) throws -> [[Float]] {
        precondition(batchSize > 0)
        var rows: [[Float]] = []
        rows.reserveCapacity(images.count)
        var start = 0
        while start < images.count {
            let batch = Array(images[start..<min(images.count, start + batchSize)])
            let output = try embed(batch)
            guard output.count == batch.count else {
                throw EvaluationError.embedderOutput(expected: "\(batch.count) rows", found: "\(output.count) rows")
            }
            let dimension = rows.first?.count ?? output.first?.count ?? 0
            if let wrong = output.first(where: { $0.count != dimension || $0.isEmpty }) {
                throw EvaluationError.embedderOutput(expected: "rows of dimension \(dimension)",
                                                     found: "a row of dimension \(wrong.count)")
            }
            rows.append(contentsOf: output)
            start += batchSize
        }
        return rows
    }
}

extension RGBImage {
    /// The mirror image (left and right swapped), as `np.fliplr` or `torch.flip(x, [3])` gives it.
    public func flippedHorizontally() -> RGBImage {
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for y in 0..<height {
                    let row = y * width * 3
                    for x in 0..<width {
                        let from = row + x * 3
                        let to = row + (width - 1 - x) * 3
                        target[to] = source[from]
                        target[to + 1] = source[from + 1]
                        target[to + 2] = source[from + 2]
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
