/// A 2x3 affine matrix mapping source (x, y) to target `(m00 x + m01 y + m02, m10 x + m11 y + m12)`,
/// laid out as OpenCV's and scikit-image's `params[0:2, :]`.
public struct AffineTransform: Sendable, Equatable {
    public var m00, m01, m02: Double
    public var m10, m11, m12: Double

    public init(m00: Double, m01: Double, m02: Double, m10: Double, m11: Double, m12: Double) {
        (self.m00, self.m01, self.m02, self.m10, self.m11, self.m12) = (m00, m01, m02, m10, m11, m12)
    }

    /// From two rows of three.
    public init(rows: [[Double]]) {
        precondition(rows.count == 2 && rows.allSatisfy { $0.count == 3 }, "an affine matrix is 2x3")
        self.init(m00: rows[0][0], m01: rows[0][1], m02: rows[0][2],
                  m10: rows[1][0], m11: rows[1][1], m12: rows[1][2])
    }

    public var rows: [[Double]] { [[m00, m01, m02], [m10, m11, m12]] }

    public func apply(_ point: SIMD2<Double>) -> SIMD2<Double> {
        SIMD2(m00 * point.x + m01 * point.y + m02, m10 * point.x + m11 * point.y + m12)
    }

    /// The inverse, computed with the same operations as `cv::invertAffineTransform` (and the inversion
    /// inside `cv::warpAffine`), so that warps reproduce OpenCV's sample positions bit for bit.
    /// A singular matrix gives all-zero coefficients, as in OpenCV.
    public func inverted() -> AffineTransform {
        var determinant = m00 * m11 - m01 * m10
        determinant = determinant != 0 ? 1 / determinant : 0
        let a11 = m11 * determinant, a22 = m00 * determinant
        let a12 = -m01 * determinant, a21 = -m10 * determinant
        let b1 = -a11 * m02 - a12 * m12
        let b2 = -a21 * m02 - a22 * m12
        return AffineTransform(m00: a11, m01: a12, m02: b1, m10: a21, m11: a22, m12: b2)
    }
}

/// Least-squares similarity transforms (rotation, uniform scale, translation; no reflection).
public enum SimilarityTransform {
    /// The similarity that maps `source` points closest to `target` in the least-squares sense: the
    /// Umeyama estimate with scale, as scikit-image's `SimilarityTransform.estimate(source, target)`.
    ///
    /// In 2-D Umeyama's solution has a closed form. With demeaned points p and q, and
    /// a = Σ p·q / Σ|p|², b = Σ (p.x q.y − p.y q.x) / Σ|p|², the linear part is [[a, −b], [b, a]] and the
    /// translation maps the source mean onto the target mean. (The SVD route gives the same unique minimum:
    /// a·[[cos, −sin], [sin, cos]] with a ≥ 0 spans every rotation-and-scale.) Computed in float64 here,
    /// where insightface feeds float32 arrays through skimage; the two differ near 1e-6 relative.
    public static func estimate(from source: [SIMD2<Double>], to target: [SIMD2<Double>],
                                sourceName: String = "landmarks") throws -> AffineTransform {
        guard source.count == target.count, source.count >= 2 else {
            throw EvaluationError.badLandmarks(
                source: sourceName,
                reason: "expected \(target.count) points (at least 2), found \(source.count)")
        }
        let count = Double(source.count)
        let sourceMean = source.reduce(SIMD2<Double>(0, 0), +) / count
        let targetMean = target.reduce(SIMD2<Double>(0, 0), +) / count
        var spread = 0.0, dot = 0.0, cross = 0.0
        for (s, t) in zip(source, target) {
            let p = s - sourceMean, q = t - targetMean
            spread += p.x * p.x + p.y * p.y
            dot += p.x * q.x + p.y * q.y
            cross += p.x * q.y - p.y * q.x
        }
        guard spread > 0, spread.isFinite, dot.isFinite, cross.isFinite else {
            throw EvaluationError.badLandmarks(
                source: sourceName, reason: "all points coincide or are not finite; no transform is defined")
        }
        let a = dot / spread, b = cross / spread
        return AffineTransform(m00: a, m01: -b, m02: targetMean.x - (a * sourceMean.x - b * sourceMean.y),
                               m10: b, m11: a, m12: targetMean.y - (b * sourceMean.x + a * sourceMean.y))
    }
}
