import FaceData

/// Aligns loose face crops to the 112x112 ArcFace template from 5 landmarks, as insightface's IJB
/// evaluation does: a similarity transform from the landmarks to the template, then a bilinear warp.
public enum FaceAlignment {
    /// Output size of aligned faces.
    public static let size = 112

    /// ArcFace's 112x112 template: left eye, right eye, nose tip, left and right mouth corners (x, y).
    /// Insightface stores the 96x112 template in float32 and adds 8 to x in float32; the values here are
    /// those float32 numbers.
    public static let arcFaceTemplate: [SIMD2<Double>] = [
        (30.2946, 51.6963), (65.5318, 51.5014), (48.0252, 71.7366), (33.5493, 92.3655), (62.7299, 92.2041),
    ].map { SIMD2(Double(Float($0.0) + 8), Double(Float($0.1))) }

    /// The transform from `landmarks` (5 points in the image's pixel coordinates) to the template.
    public static func transform(landmarks: [SIMD2<Double>], source: String = "landmarks") throws -> AffineTransform {
        guard landmarks.count == arcFaceTemplate.count else {
            throw EvaluationError.badLandmarks(source: source,
                                               reason: "expected 5 landmarks, found \(landmarks.count)")
        }
        return try SimilarityTransform.estimate(from: landmarks, to: arcFaceTemplate, sourceName: source)
    }

    /// The 112x112 aligned face. `source` names the image in errors.
    public static func align(_ image: RGBImage, landmarks: [SIMD2<Double>], source: String = "image") throws -> RGBImage {
        let matrix = try transform(landmarks: landmarks, source: source)
        return AffineWarp.warp(image, by: matrix, width: size, height: size)
    }
}
