import Foundation

/// The pixel-space baseline for verification pairs: each image's raw pixels, normalised as the trainer
/// normalises its input ((x / 255 - 0.5) / 0.5) and then to unit L2 norm, compared by squared L2 distance
/// (2 - 2 cosine), and scored with insightface's 10-fold best-threshold protocol. It says how much of a
/// verification set a model could pass without learning anything.
public enum SynthBaseline {
    /// Accuracy under insightface's 10-fold verification protocol.
    public struct Result: Sendable, Equatable {
        /// Held-out accuracy of each fold.
        public var foldAccuracies: [Double]
        /// The threshold chosen on each fold's 9 training folds.
        public var thresholds: [Double]
        public var mean: Double { foldAccuracies.reduce(0, +) / Double(foldAccuracies.count) }
        /// Population standard deviation, as numpy's np.std.
        public var standardDeviation: Double {
            let mean = self.mean
            let variance = foldAccuracies.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(foldAccuracies.count)
            return variance.squareRoot()
        }
    }

    /// Squared L2 distance between the unit-normalised pixel vectors of images 2i and 2i+1, for each pair i.
    public static func pixelDistances(_ images: [RGBImage]) throws -> [Double] {
        guard images.count % 2 == 0 else {
            throw SynthError("pixel baseline: expected an even number of images (pairs), got \(images.count)")
        }
        return try stride(from: 0, to: images.count, by: 2).map { index in
            let a = images[index], b = images[index + 1]
            guard a.width == b.width, a.height == b.height else {
                throw SynthError("""
                    pixel baseline: pair \(index / 2) has images of different sizes \
                    (\(a.width)x\(a.height) and \(b.width)x\(b.height))
                    """)
            }
            let u = normalisedPixels(a), v = normalisedPixels(b)
            var distance = 0.0
            for i in 0..<u.count { distance += (u[i] - v[i]) * (u[i] - v[i]) }
            return distance
        }
    }

    /// (x / 255 - 0.5) / 0.5 for every byte, scaled to unit L2 norm.
    public static func normalisedPixels(_ image: RGBImage) -> [Double] {
        let values = image.pixels.map { (Double($0) / 255 - 0.5) / 0.5 }
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        // No byte maps to 0 ((x/255 - 0.5)/0.5 = 0 needs x = 127.5), so the norm is positive.
        return values.map { $0 / norm }
    }

    /// insightface's verification accuracy: thresholds 0.00, 0.01, ..., 3.99 (numpy's arange: i * 0.01),
    /// "same" when distance < threshold; 10 contiguous folds sized as scikit-learn's KFold (the first
    /// n % 10 folds one larger); on each fold's other 9 folds the first threshold of best accuracy is
    /// chosen and the held-out fold is scored with it.
    public static func tenFoldAccuracy(distances: [Double], same: [Bool]) throws -> Result {
        guard distances.count == same.count else {
            throw SynthError("verification: \(distances.count) distances but \(same.count) labels")
        }
        let count = distances.count, folds = 10
        guard count >= folds else {
            throw SynthError("verification: 10 folds need at least 10 pairs, got \(count)")
        }
        let thresholds = (0..<400).map { Double($0) * 0.01 }
        var bounds = [0]
        for fold in 0..<folds { bounds.append(bounds[fold] + count / folds + (fold < count % folds ? 1 : 0)) }

        // correct[f][t]: pairs of fold f classified right at threshold t.
        var correct = [[Int]](repeating: [Int](repeating: 0, count: thresholds.count), count: folds)
        for fold in 0..<folds {
            for index in bounds[fold]..<bounds[fold + 1] {
                for (t, threshold) in thresholds.enumerated() where (distances[index] < threshold) == same[index] {
                    correct[fold][t] += 1
                }
            }
        }
        var result = Result(foldAccuracies: [], thresholds: [])
        for fold in 0..<folds {
            var best = 0, bestCorrect = -1
            for t in thresholds.indices {
                let trainCorrect = (0..<folds).reduce(0) { $0 + ($1 == fold ? 0 : correct[$1][t]) }
                if trainCorrect > bestCorrect { best = t; bestCorrect = trainCorrect }
            }
            let size = bounds[fold + 1] - bounds[fold]
            result.foldAccuracies.append(Double(correct[fold][best]) / Double(size))
            result.thresholds.append(thresholds[best])
        }
        return result
    }
}
