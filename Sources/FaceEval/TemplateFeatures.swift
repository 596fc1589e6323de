/// IJB template features as insightface's `image2template_feature` builds them: the image features of each
/// media (a still, or the frames of one video) are averaged, the media features of a template summed, and
/// the sum L2-normalised. Averages are taken in float64 (insightface: float32 means, float64 sums); the
/// difference is near 1e-7 relative.
public struct TemplateFeatures: Sendable {
    /// Template ids in increasing order (`np.unique`).
    public private(set) var templateIDs: [Int]
    /// Normalised features, one row per id. A zero sum stays zero, as sklearn's `normalize` leaves it.
    public private(set) var features: [[Double]]
    private var rowOfTemplate: [Int: Int]

    /// `imageFeatures[i]` belongs to template `templates[i]` and media `medias[i]`.
    public init(imageFeatures: [[Float]], templates: [Int], medias: [Int]) throws {
        guard imageFeatures.count == templates.count, templates.count == medias.count else {
            throw EvaluationError.countMismatch(what: "template and media ids for \(imageFeatures.count) image features",
                                                expected: imageFeatures.count, found: min(templates.count, medias.count))
        }
        let dimension = imageFeatures.first?.count ?? 0
        // template -> media -> image indices
        var groups: [Int: [Int: [Int]]] = [:]
        for (index, template) in templates.enumerated() {
            groups[template, default: [:]][medias[index], default: []].append(index)
        }
        templateIDs = groups.keys.sorted()
        rowOfTemplate = Dictionary(uniqueKeysWithValues: templateIDs.enumerated().map { ($1, $0) })
        features = templateIDs.map { template in
            var sum = [Double](repeating: 0, count: dimension)
            for (_, images) in groups[template]!.sorted(by: { $0.key < $1.key }) {
                var mean = [Double](repeating: 0, count: dimension)
                for image in images {
                    for d in 0..<dimension { mean[d] += Double(imageFeatures[image][d]) }
                }
                for d in 0..<dimension { sum[d] += mean[d] / Double(images.count) }
            }
            let length = sum.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return length == 0 ? sum : sum.map { $0 / length }
        }
    }

    public func feature(of template: Int) -> [Double]? {
        rowOfTemplate[template].map { features[$0] }
    }

    /// Cosine similarity of every pair; a pair naming a template without images is an error that gives the
    /// pair's number (its line in `pairFile` when the file has no blank lines).
    public func scores(for pairs: IJBPairs, pairFile: String = "pair list") throws -> [Double] {
        var scores = [Double](repeating: 0, count: pairs.count)
        for i in 0..<pairs.count {
            guard let a = rowOfTemplate[Int(pairs.template1[i])], let b = rowOfTemplate[Int(pairs.template2[i])] else {
                let missing = rowOfTemplate[Int(pairs.template1[i])] == nil ? pairs.template1[i] : pairs.template2[i]
                throw EvaluationError.malformedLine(
                    file: pairFile, line: i + 1, expected: "templates that have images in the face list",
                    found: "\(pairs.template1[i]) \(pairs.template2[i]) (template \(missing) has no images)")
            }
            var dot = 0.0
            let fa = features[a], fb = features[b]
            for d in 0..<fa.count { dot += fa[d] * fb[d] }
            scores[i] = dot
        }
        return scores
    }
}
