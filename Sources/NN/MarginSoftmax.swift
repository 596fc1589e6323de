// Margin-based softmax as arcface_torch computes it (losses.py CombinedMarginLoss and partial_fc_v2.py,
// one process): cosine logits of embeddings against class centres, the combined margin on the target
// logit, interclass filtering, and the cross entropy with the 1e-30 floor. Everything is composed from
// Engine ops; the two places where arcface_torch's gradient is not the derivative of its forward value
// (the ArcFace margin under torch.no_grad, and the floor) are written as value + constant shift.
import Collective
import Engine
import Foundation

/// cos = clamp(normalize(embeddings) . normalize(centres)^T, -1, 1), rows normalised with eps 1e-12 as
/// torch.nn.functional.normalize (the normalised linear head).
/// - embeddings: [N, D]; centres: [K, D]. Returns [N, K].
public func cosineLogits(_ embeddings: Tensor, centres: Tensor) throws -> Tensor {
    guard embeddings.shape.count == 2, centres.shape.count == 2, embeddings.shape[1] == centres.shape[1] else {
        throw HeadError("cosineLogits: embeddings \(embeddings.shape) and class centres \(centres.shape) "
                        + "must be [N, D] and [K, D] with the same D")
    }
    let product = try matmul(embeddings.normalizedRows(epsilon: 1e-12), centres.normalizedRows(epsilon: 1e-12),
                             transposeB: true)
    return try product.clamped(min: -1, max: 1)
}

/// How the gradient treats the angular part of the margin, cos(m1 * theta + m2).
public enum MarginDerivative: String, Codable, Sendable, CaseIterable {
    /// arcface_torch today: the target logit is overwritten under torch.no_grad, so the gradient with
    /// respect to cos is that of cos itself: the margin acts as a constant shift.
    case constantShift
    /// The exact derivative, d cos(m1 theta + m2) / d cos = m1 sin(m1 theta + m2) / sin(theta) (the
    /// original ArcFace formula, differentiated); infinite where cos = +-1.
    case exact
}

/// CombinedMargin(s, m1, m2, m3) of InsightFace: logits = s * cos, with the target logit replaced by
/// cos(m1 * theta + m2) - m3 (theta = arccos(cos)), and, when `interclassFilteringThreshold` t > 0,
/// every non-target cos above t set to 0 (no gradient flows to it).
///
/// ArcFace is (1, 0.5, 0), CosFace (1, 0, 0.4). As in arcface_torch today, cos(theta + m2) is used for
/// every theta, also where theta + m2 > pi (no easy-margin or threshold fallback: arcface_torch still
/// computes `theta` and `sinmm` but its forward never uses them). arcface_torch accepts only
/// (1, m2, 0) and (1, 0 or any, m3 > 0), and for m3 > 0 ignores m2; here any combination applies the
/// paper's cos(m1 theta + m2) - m3, which is the same on the margins arcface_torch supports with m2 = 0
/// or m3 = 0. arcface_torch also sends the non-target cosines through arccos and back through cos; that
/// round trip changes them by float32 rounding only and is skipped here. A label -1 marks a sample whose
/// class lives on another rank's shard of the head (partial_fc_v2): its row gets no margin.
public struct CombinedMargin: Codable, Equatable, Sendable {
    /// s, the logit scale.
    public var scale: Float
    /// m1, the multiplicative angular margin (SphereFace); 1 for ArcFace and CosFace.
    public var angularMultiplier: Float
    /// m2, the additive angular margin in radians (ArcFace).
    public var angularMarginRadians: Float
    /// m3, the additive cosine margin (CosFace).
    public var cosineMargin: Float
    /// t: non-target cosines above t are zeroed; 0 switches filtering off (arcface_torch's default).
    public var interclassFilteringThreshold: Float
    /// Whether the angular margin is differentiated; arcface_torch's behaviour by default.
    public var derivative: MarginDerivative

    /// The margin of arcface_torch's `margin_list = (m1, m2, m3)`.
    public init(scale: Float = 64, m1: Float, m2: Float, m3: Float, interclassFilteringThreshold: Float = 0,
                derivative: MarginDerivative = .constantShift) throws {
        guard scale.isFinite, scale > 0 else { throw HeadError("margin scale s must be a positive number, got \(scale)") }
        guard m1.isFinite, m1 > 0 else { throw HeadError("margin m1 must be a positive number, got \(m1)") }
        guard m2.isFinite, m3.isFinite else { throw HeadError("margins m2, m3 must be finite, got \(m2), \(m3)") }
        guard interclassFilteringThreshold.isFinite, interclassFilteringThreshold >= 0 else {
            throw HeadError("interclass_filtering_threshold must be 0 (off) or positive, got \(interclassFilteringThreshold)")
        }
        self.scale = scale
        angularMultiplier = m1
        angularMarginRadians = m2
        cosineMargin = m3
        self.interclassFilteringThreshold = interclassFilteringThreshold
        self.derivative = derivative
    }

    /// ArcFace: (s, 1, margin, 0).
    public static func arcFace(scale: Float = 64, margin: Float = 0.5, interclassFilteringThreshold: Float = 0,
                               derivative: MarginDerivative = .constantShift) throws -> CombinedMargin {
        try CombinedMargin(scale: scale, m1: 1, m2: margin, m3: 0,
                           interclassFilteringThreshold: interclassFilteringThreshold, derivative: derivative)
    }

    /// CosFace: (s, 1, 0, margin).
    public static func cosFace(scale: Float = 64, margin: Float = 0.4,
                               interclassFilteringThreshold: Float = 0) throws -> CombinedMargin {
        try CombinedMargin(scale: scale, m1: 1, m2: 0, m3: margin,
                           interclassFilteringThreshold: interclassFilteringThreshold)
    }

    /// Whether the target logit goes through arccos and cos (false for pure CosFace, which arcface_torch
    /// computes as cos - m3 without the round trip).
    var hasAngularMargin: Bool { angularMultiplier != 1 || angularMarginRadians != 0 }

    /// The margin on one target cosine, in float arithmetic: cos(m1 arccos(c) + m2) - m3.
    func targetWithMargin(_ cosine: Float) -> Float {
        guard hasAngularMargin else { return cosine - cosineMargin }
        return Foundation.cos(angularMultiplier * Foundation.acos(cosine) + angularMarginRadians) - cosineMargin
    }

    /// The scaled logits with the margin on the target of each row.
    /// - cosines: [N, C] in [-1, 1]; labels: N class indices in 0..<C, or -1 where the sample's class is
    ///   not among these columns (another rank's shard). Returns [N, C].
    public func logits(cosines: Tensor, labels: [Int]) throws -> Tensor {
        try checkLabels(labels, logitsShape: cosines.shape, "CombinedMargin", allowingAbsent: true)
        let rows = cosines.shape[0], width = cosines.shape[1]
        var filtered = cosines
        if interclassFilteringThreshold > 0 {
            // arcface_torch builds this mask under no_grad from the clamped cosines; zeroed logits get
            // no gradient.
            var keep = try cosines.values()
            var filteredCount = 0
            for row in 0..<rows {
                for column in 0..<width {
                    let index = row * width + column
                    let dirty = keep[index] > interclassFilteringThreshold && column != labels[row]
                    keep[index] = dirty ? 0 : 1
                    if dirty { filteredCount += 1 }
                }
            }
            if filteredCount > 0 { filtered = try multiply(cosines, Tensor(shape: cosines.shape, values: keep)) }
        }
        let target = try filtered.gather(columns: labels)
        let marginTarget: Tensor
        if !hasAngularMargin {
            marginTarget = try target.scaled(by: 1, plus: -cosineMargin)
        } else {
            switch derivative {
            case .exact:
                marginTarget = try target.acos().scaled(by: angularMultiplier, plus: angularMarginRadians).cos()
                    .scaled(by: 1, plus: -cosineMargin)
            case .constantShift:
                // value: the margin; gradient: that of the target cos alone (arcface_torch's no_grad block).
                let shift = try target.values().map { targetWithMargin($0) - $0 }
                marginTarget = try add(target, Tensor(shape: [rows], values: shift))
            }
        }
        return try filtered.scatter(columns: labels, values: marginTarget).scaled(by: scale)
    }
}

/// The smallest target probability the loss takes the log of (arcface_torch's clamp_min(1e-30)).
public let crossEntropyProbabilityFloor: Float = 1e-30

/// arcface_torch's cross entropy on one process: -mean over the batch of log(max(p_target, 1e-30)),
/// p = softmax(logits), with the gradient (softmax - onehot) / N also where the floor applied
/// (DistCrossEntropyFunc's backward ignores the floor): `distributedCrossEntropy` in a world of one.
/// - logits: [N, C]; labels: N class indices in 0..<C. Returns [1].
public func flooredCrossEntropy(_ logits: Tensor, labels: [Int]) throws -> Tensor {
    try checkLabels(labels, logitsShape: logits.shape, "flooredCrossEntropy")
    return try distributedCrossEntropy(logits, labels: labels, SingleProcess())
}

/// Throws unless `shape` is [labels.count, C] and every label is in 0..<C (or -1, when `allowingAbsent`).
func checkLabels(_ labels: [Int], logitsShape shape: [Int], _ operation: String, allowingAbsent: Bool = false) throws {
    guard shape.count == 2, shape[0] == labels.count else {
        throw HeadError("\(operation): logits must be [N, C] with N = \(labels.count) labels, got \(shape)")
    }
    let lowest = allowingAbsent ? -1 : 0
    if let bad = labels.firstIndex(where: { $0 < lowest || $0 >= shape[1] }) {
        throw HeadError("\(operation): sample \(bad) has label \(labels[bad]), expected a class in 0..<\(shape[1])")
    }
}
