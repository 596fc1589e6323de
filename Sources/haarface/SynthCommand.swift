import ArgumentParser
import FaceData
import Foundation

/// `haarface synth`: renders a synthetic-identity face set (training images plus held-out verification pairs).
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Render synthetic face identities: a training set and held-out verification pairs.",
        discussion: """
            Each identity is a fixed vector of facial parameters; each image varies pose, light, expression, \
            occlusion, blur, noise and JPEG quality. The same seed gives byte-identical files. \
            See docs/synthetic-identities.md.
            """)

    @Option(help: "Training identities (classes).")
    var identities = 200

    @Option(help: "Training images per identity.")
    var imagesPerIdentity = 40

    @Option(help: "Image width and height in pixels.")
    var imageSize = 112

    @Option(help: "Seed of the generator (any unsigned 64-bit integer).")
    var seed: UInt64 = 0

    @Option(help: "Output folder (created; must be empty if it exists).")
    var output: String

    @Option(help: "Training set format: folder (train/<identity>/<n>.jpg) or rec (train.rec + train.idx).")
    var format: SynthWriter.Format = .folder

    @Option(help: "Verification pairs over held-out identities: 0 or a multiple of 20.")
    var pairs = 1000

    @Option(help: "Held-out identities the pairs draw from (default: pairs / 2).")
    var pairIdentities: Int?

    @Option(help: "Nuisance strength and identity similarity, 0 (easy) to 3; 1 is the default mix.")
    var difficulty = 1.0

    @Flag(help: "Also score the pixel baseline (10-fold best-threshold accuracy) on the written pairs.")
    var baseline = false

    private var config: SynthConfig {
        SynthConfig(identities: identities, imagesPerIdentity: imagesPerIdentity, imageSize: imageSize,
                    seed: seed, pairs: pairs, pairIdentities: pairIdentities, difficulty: difficulty)
    }

    func validate() throws {
        do {
            try config.validate()
        } catch let error as SynthError {
            throw ValidationError(error.description)
        }
        if baseline && pairs == 0 {
            throw ValidationError("--baseline needs verification pairs; got --pairs 0")
        }
    }

    func run() throws {
        let faces = try SyntheticFaces(config)
        var pairImages: [Data] = []
        let summary = try SynthWriter.write(faces, to: URL(fileURLWithPath: output), format: format,
                                            verificationImages: baseline ? { pairImages.append($0) } : nil)
        print("""
            wrote \(summary.trainingImages) training images of \(identities) identities and \(summary.pairImages) \
            pair images (\(pairs) pairs) to \(output) in \(String(format: "%.2f", summary.seconds)) s \
            (\(String(format: "%.0f", summary.imagesPerSecond)) images/s, \(summary.encodedBytes / 1024) KiB)
            """)
        if baseline {
            let codec = JPEGCodec()
            let images = try pairImages.enumerated().map { index, jpeg in
                try codec.decode(jpeg, source: "\(SynthWriter.verificationName)/imgs/\(index).jpg")
            }
            let distances = try SynthBaseline.pixelDistances(images)
            let same = faces.pairs.map(\.same)
            let result = try SynthBaseline.tenFoldAccuracy(distances: distances, same: same)
            print(String(format: "pixel baseline: accuracy %.5f+-%.5f (10 folds, %d pairs)",
                         result.mean, result.standardDeviation, pairs))
            print("fold accuracies: " + result.foldAccuracies.map { String(format: "%.3f", $0) }.joined(separator: " "))
        }
    }
}

extension SynthWriter.Format: ExpressibleByArgument {}
