import FaceData
import Foundation
import Plots

/// IJB-B / IJB-C 1:1 verification as insightface's `ijb_11.py` runs it (flip test, detector-score weighting,
/// unnormalised image features): align, embed, build templates, score pairs, ROC, TAR at FAR 1e-6 ... 1e-1.
public enum IJBEvaluation {
    public static let falseAcceptRates: [Double] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]

    /// Image feature of every face: (f(x) + f(flip x)) * detector score, in float32 and not normalised,
    /// where x is the loose crop aligned to the 112x112 ArcFace template. Images are decoded and aligned
    /// on all cores, embedded `batchSize` at a time; `progress(done, total)` follows each batch.
    public static func imageFeatures(meta: IJBMeta, embedder: FaceEmbedder, batchSize: Int = 64,
                                     landmarkFile: String = "landmark list",
                                     progress: ((Int, Int) -> Void)? = nil) throws -> [[Float]] {
        precondition(batchSize > 0)
        var features: [[Float]] = []
        features.reserveCapacity(meta.faces.count)
        var start = 0
        while start < meta.faces.count {
            let range = start..<min(meta.faces.count, start + batchSize)
            let aligned = try alignedFaces(meta: meta, range: range, landmarkFile: landmarkFile)
            let original = try embedder.embedChecked(aligned, batchSize: batchSize)
            let flipped = try embedder.embedChecked(aligned.map { $0.flippedHorizontally() }, batchSize: batchSize)
            if let dimension = features.first?.count, let wrong = original.first(where: { $0.count != dimension }) {
                throw EvaluationError.embedderOutput(expected: "rows of dimension \(dimension)",
                                                     found: "a row of dimension \(wrong.count)")
            }
            for (offset, index) in range.enumerated() {
                features.append(imageFeature(original: original[offset], flipped: flipped[offset],
                                             detectorScore: meta.faces[index].detectorScore))
            }
            start = range.upperBound
            progress?(start, meta.faces.count)
        }
        return features
    }

    /// (f(x) + f(flip x)) * detector score in float32, as ijb_11.py computes it with use_flip_test (F2),
    /// use_norm_score (N1) and use_detector_score (D1).
    public static func imageFeature(original: [Float], flipped: [Float], detectorScore: Float) -> [Float] {
        zip(original, flipped).map { ($0 + $1) * detectorScore }
    }

    /// Reads and aligns faces `range` of `meta` in parallel. Errors name the image and its meta line.
    static func alignedFaces(meta: IJBMeta, range: Range<Int>, landmarkFile: String) throws -> [RGBImage] {
        let workers = max(1, min(range.count, ProcessInfo.processInfo.activeProcessorCount))
        let results = UnsafeMutableBufferPointer<Result<RGBImage, Error>?>.allocate(capacity: range.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let codec = JPEGCodec()
            for offset in stride(from: worker, to: range.count, by: workers) {
                let index = range.lowerBound + offset
                results[offset] = Result { try alignedFace(meta.faces[index], meta: meta,
                                                           codec: codec, landmarkFile: landmarkFile) }
            }
        }
        return try results.map { try $0!.get() }
    }

    static func alignedFace(_ face: IJBFace, meta: IJBMeta, codec: JPEGCodec,
                            landmarkFile: String) throws -> RGBImage {
        let url = meta.imageDirectory.appendingPathComponent(face.imageName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw EvaluationError.missingFile(path: url.path, referencedBy: "\(landmarkFile) line \(face.line)")
        }
        let image = try codec.decode(data, source: url.path)
        return try FaceAlignment.align(image, landmarks: face.landmarks, source: "\(url.path) (\(landmarkFile) line \(face.line))")
    }

    /// Scores every pair from image features and reports ROC and TARs.
    public static func evaluate(meta: IJBMeta, imageFeatures: [[Float]], name: String = "IJB",
                                pairFile: String = "pair list") throws -> IJBReport {
        let templates = try TemplateFeatures(imageFeatures: imageFeatures,
                                             templates: meta.faces.map(\.templateID),
                                             medias: meta.faces.map(\.mediaID))
        let scores = try templates.scores(for: meta.pairs, pairFile: pairFile)
        let roc = try ROCCurve(scores: scores, isSame: meta.pairs.isSame)
        return IJBReport(name: name, imageCount: meta.faces.count, templateCount: templates.templateIDs.count,
                         pairCount: meta.pairs.count, rocAUC: roc.area,
                         tarAtFAR: roc.table(falseAcceptRates: falseAcceptRates), roc: roc)
    }

    /// The whole protocol on a data set folder in insightface's layout (see `IJBMeta`).
    public static func evaluate(root: URL, target: String, embedder: FaceEmbedder, batchSize: Int = 64,
                                progress: ((Int, Int) -> Void)? = nil) throws -> IJBReport {
        let prefix = target.lowercased()
        let meta = try IJBMeta.load(root: root, target: target)
        let features = try imageFeatures(meta: meta, embedder: embedder, batchSize: batchSize,
                                         landmarkFile: "meta/\(prefix)_name_5pts_score.txt", progress: progress)
        return try evaluate(meta: meta, imageFeatures: features, name: target.uppercased(),
                            pairFile: "meta/\(prefix)_template_pair_label.txt")
    }
}

/// The outcome of an IJB evaluation; `Codable` (without the curve) for the JSON summary.
public struct IJBReport: Sendable, Codable {
    public var name: String
    public var imageCount: Int
    public var templateCount: Int
    public var pairCount: Int
    public var rocAUC: Double
    public var tarAtFAR: [TARAtFAR]
    /// The full curve, for plots.
    public var roc: ROCCurve?

    enum CodingKeys: String, CodingKey { case name, imageCount, templateCount, pairCount, rocAUC, tarAtFAR }

    /// Insightface's TPR@FPR table row: the method, then TAR x 100 with two decimals per FAR.
    public var tableText: String {
        let header = "| Method | " + tarAtFAR.map { String(format: "%g", $0.far) }.joined(separator: " | ") + " |"
        let rule = "|---|" + tarAtFAR.map { _ in "---:|" }.joined()
        let row = "| \(name) | " + tarAtFAR.map { String(format: "%.2f", $0.tar * 100) }.joined(separator: " | ") + " |"
        return [header, rule, row].joined(separator: "\n")
    }

    /// The ROC on a log FPR axis, as insightface's IJB plot shows it.
    public func figure() -> Figure {
        ROCFigure.figure(title: "ROC on \(name)", curves: roc.map { [(name, $0)] } ?? [])
    }
}

/// ROC pictures. Plots' x axis is linear, so the x values are log10(FPR) and the axis is labelled that way.
public enum ROCFigure {
    /// Points with FPR in [1e-6, 1] (insightface's plot starts at 1e-6); a marker at each reported FAR.
    public static func figure(title: String, curves: [(name: String, curve: ROCCurve)],
                              falseAcceptRates: [Double] = IJBEvaluation.falseAcceptRates) -> Figure {
        let colors = [Palette.blue, Palette.orange, Palette.green, Palette.vermilion, Palette.purple, Palette.sky]
        let series = curves.enumerated().map { index, entry in
            let points = zip(entry.curve.falsePositiveRates, entry.curve.truePositiveRates).filter { $0.0 >= 1e-6 }
            let auc = String(format: "%.4f", entry.curve.area * 100)
            return Series(name: "\(entry.name) (AUC = \(auc) %)", x: points.map { log10($0.0) }, y: points.map(\.1),
                          color: colors[index % colors.count])
        }
        let panel = Panel(title: "True positive rate against false positive rate", yLabel: "True Positive Rate",
                          series: series,
                          markers: falseAcceptRates.map { Marker(x: log10($0), direction: .up, color: Palette.grey) })
        return Figure(title: title, xLabel: "False Positive Rate (log10)", panels: [panel])
    }
}
