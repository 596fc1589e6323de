import FaceData

/// Bilinear affine warps computed as OpenCV's `cv2.warpAffine(image, M, size, borderValue=0)`
/// (INTER_LINEAR, BORDER_CONSTANT) computes them for 8-bit images, result for result.
///
/// Pixel-centre convention: integer coordinates are pixel centres, pixel (column i, row j) sits at (i, j),
/// and the landmarks of the IJB meta files use the same convention. Output pixel (x, y) takes the source
/// value at `M⁻¹ (x, y)`.
///
/// OpenCV's fixed-point arithmetic, reproduced here: the source position is rounded to 1/32 pixel
/// (`AB_BITS` 10, `INTER_BITS` 5), the four bilinear weights are integers summing to 2^15, and the weighted
/// sum is rounded with `(sum + 2^14) >> 15`. Neighbours outside the source count as 0.
public enum AffineWarp {
    public static func warp(_ image: RGBImage, by transform: AffineTransform, width: Int, height: Int) -> RGBImage {
        precondition(width > 0 && height > 0)
        let inverse = transform.inverted()
        let abScale = 1024.0                  // 1 << AB_BITS
        let roundDelta = 16                   // AB_SCALE / INTER_TAB_SIZE / 2
        let xDelta = (0..<width).map { cvRound(inverse.m00 * Double($0) * abScale) }
        let yDelta = (0..<width).map { cvRound(inverse.m10 * Double($0) * abScale) }
        let weights = bilinearWeights
        let sourceWidth = image.width, sourceHeight = image.height
        var out = [UInt8](repeating: 0, count: width * height * 3)
        image.pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for y in 0..<height {
                    let x0 = cvRound((inverse.m01 * Double(y) + inverse.m02) * abScale) + roundDelta
                    let y0 = cvRound((inverse.m11 * Double(y) + inverse.m12) * abScale) + roundDelta
                    for x in 0..<width {
                        let fixedX = (x0 + xDelta[x]) >> 5   // in 1/32 pixel
                        let fixedY = (y0 + yDelta[x]) >> 5
                        let sx = fixedX >> 5, sy = fixedY >> 5
                        let w = weights[(fixedY & 31) * 32 + (fixedX & 31)]
                        let insideX0 = sx >= 0 && sx < sourceWidth, insideX1 = sx + 1 >= 0 && sx + 1 < sourceWidth
                        let insideY0 = sy >= 0 && sy < sourceHeight, insideY1 = sy + 1 >= 0 && sy + 1 < sourceHeight
                        if !(insideX0 || insideX1) || !(insideY0 || insideY1) { continue }  // border value 0
                        let row0 = sy * sourceWidth, row1 = (sy + 1) * sourceWidth
                        let outBase = (y * width + x) * 3
                        for channel in 0..<3 {
                            var sum = 0
                            if insideY0 && insideX0 { sum += Int(source[(row0 + sx) * 3 + channel]) * w.0 }
                            if insideY0 && insideX1 { sum += Int(source[(row0 + sx + 1) * 3 + channel]) * w.1 }
                            if insideY1 && insideX0 { sum += Int(source[(row1 + sx) * 3 + channel]) * w.2 }
                            if insideY1 && insideX1 { sum += Int(source[(row1 + sx + 1) * 3 + channel]) * w.3 }
                            target[outBase + channel] = UInt8(clamping: (sum + (1 << 14)) >> 15)
                        }
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// OpenCV's 32x32 table of bilinear weights (top-left, top-right, bottom-left, bottom-right) for
    /// fractional offsets (fy * 32 + fx); each weight is (1 - fx/32 or fx/32)(1 - fy/32 or fy/32) * 2^15,
    /// saturated to Int16 as `saturate_cast<short>` does (so the integer offset's 2^15 becomes 32767).
    static let bilinearWeights: [(Int, Int, Int, Int)] = (0..<1024).map { index in
        let fy = index / 32, fx = index % 32
        func weight(_ a: Int, _ b: Int) -> Int { min(32767, a * b * 32) }
        return (weight(32 - fx, 32 - fy), weight(fx, 32 - fy), weight(32 - fx, fy), weight(fx, fy))
    }

    /// `saturate_cast<int>` of a double: the nearest integer, halves to even (cvRound, lrint in the default
    /// rounding mode), saturated to int's range, NaN to its minimum (as x86's cvtsd2si gives). Landmarks far
    /// outside any image (a damaged IJB meta file, found by the ijb fuzz target) so warp to the border value
    /// instead of trapping.
    static func cvRound(_ value: Double) -> Int {
        let rounded = value.rounded(.toNearestOrEven)
        guard rounded >= Double(Int32.min) else { return Int(Int32.min) }   // NaN too
        return rounded > Double(Int32.max) ? Int(Int32.max) : Int(rounded)
    }
}
