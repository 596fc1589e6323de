import Foundation

/// Encoded or decoded face images as a model's input, prepared exactly as the loader prepares training
/// batches (bilinear resize when needed, (x/255 - 0.5)/0.5, RGB planes) but without random augmentation:
/// for evaluation and embedding.
public enum ModelInput {
    /// 3 x height x width floats (R, G, B planes) of an encoded image, mirrored if `flipped`.
    public static func planes(of data: Data, codec: JPEGCodec, width: Int, height: Int, flipped: Bool,
                              source: String) throws -> [Float] {
        planes(of: try ImageDecoder.decode(data, codec: codec, source: source), width: width, height: height, flipped: flipped)
    }

    /// 3 x height x width floats (R, G, B planes) of an image, mirrored if `flipped`.
    public static func planes(of image: RGBImage, width: Int, height: Int, flipped: Bool) -> [Float] {
        var output = [Float](repeating: 0, count: 3 * width * height)
        output.withUnsafeMutableBufferPointer {
            ImageNormalizer.write(image.resized(width: width, height: height), flipped: flipped, into: $0)
        }
        return output
    }
}
