import ArgumentParser
import FaceData
import FaceEval
import Foundation
import NN
import Training

/// The flags every command that loads a model shares.
struct CheckpointOptions: ParsableArguments {
    @Option(help: "A backbone: safetensors with PyTorch keys (HaarFace's model.safetensors, insightface's exported) an arcface_torch torch.save state_dict (.pth/.pt, read without running its pickle) or an ONNX model (.onnx: torch2onnx's or haarface export's).")
    var checkpoint: String
    @Option(help: "\(Network.nameList): needed when neither the file's metadata nor an IResNet's keys tell the network.")
    var network: String?
    @Option(help: "Images per forward pass.")
    var batchSize = 64

    func load() throws -> (ModelCheckpoint, BackboneEmbedder) {
        let model = try ModelCheckpoint(contentsOf: URL(fileURLWithPath: checkpoint), network: network)
        return (model, BackboneEmbedder(backbone: model.backbone, imageSize: model.imageSize, batchSize: batchSize))
    }

    /// Where `eval` leaves its thresholds for `verify`: beside the checkpoint.
    var evaluationRecord: URL { URL(fileURLWithPath: checkpoint + ".eval.json") }
}

/// What `eval` remembers for `verify`: the cosine threshold of the last evaluation.
struct EvaluationRecord: Codable {
    var set: String
    var accuracy: Double
    /// Mean of the 10 folds' best squared-distance thresholds, and the same as a cosine (d = 2 - 2 cos).
    var distanceThreshold: Double
    var cosineThreshold: Double
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model: insightface's 10-fold verification on .bin / FastFace sets, or IJB-B/C 1:1.",
        discussion: """
            Verification follows insightface: flip test, XNorm, thresholds 0.00 ... 3.99 on squared distances, \
            10 contiguous folds; it also prints ROC AUC and TAR at FAR 1e-4, 1e-3, 1e-2. IJB: each loose crop is \
            aligned from its 5 landmarks to the ArcFace template, features are (f(x) + f(flip x)) x detector score, \
            templates are media-averaged and summed; TAR at FAR 1e-6 ... 1e-1.
            """)

    @OptionGroup var model: CheckpointOptions
    @Option(parsing: .upToNextOption, help: "Verification sets: .bin files or FastFace folders (imgs/ + pair_label.npy).")
    var bin: [String] = []
    @Option(help: "IJB folder: the target's own (holding meta/ and loose_crop/, e.g. IJB_release/IJBC) or the one above it (holding <target>/meta and <target>/loose_crop, e.g. IJB_release).")
    var ijb: String?
    @Option(help: "IJB target: IJBB or IJBC.")
    var ijbTarget = "IJBC"
    @Option(help: "Write the ROC curve (IJB) as SVG.")
    var plot: String?

    func validate() throws {
        if bin.isEmpty && ijb == nil { throw ValidationError("give --bin SET... or --ijb ROOT") }
    }

    func run() throws {
        // The sets first: a wrong path fails before a large model is read.
        let verificationSets = try bin.map { try DataSetLocation.locate(URL(fileURLWithPath: $0)).verificationSet() }
        let (checkpoint, embedder) = try model.load()
        var summary: [String: Any] = ["checkpoint": model.checkpoint, "network": checkpoint.network,
                                      "image_size": checkpoint.imageSize]
        var sets: [[String: Any]] = []
        var record: EvaluationRecord?
        for (path, set) in zip(bin, verificationSets) {
            let name = set.name
            let codec = JPEGCodec()
            let images = try set.images.isEmpty ? set.decodedImages : set.images.enumerated().map { index, bytes in
                try codec.decode(bytes, source: "\(path) image \(index)")
            }
            let start = Date()
            let report = try Verification.evaluate(images: images, isSame: set.sameIdentity, embedder: embedder,
                                                   batchSize: model.batchSize)
            for line in InsightFaceLog.lines(set: name, step: 0, report: report) { print(line) }
            let tars = (report.tarAtFAR ?? []).map { String(format: "TAR@FAR=%g: %.4f", $0.far, $0.tar) }
            print("[\(name)] ROC AUC: \(report.rocAUC.map { String(format: "%.5f", $0) } ?? "n/a")  " + tars.joined(separator: "  "))
            let threshold = report.bestThresholds.reduce(0, +) / Double(max(1, report.bestThresholds.count))
            record = EvaluationRecord(set: name, accuracy: report.accuracyMean, distanceThreshold: threshold,
                                      cosineThreshold: 1 - threshold / 2)
            var entry: [String: Any] = [
                "set": name, "pairs": report.pairCount, "xnorm": report.xNorm, "accuracy": report.accuracyMean,
                "std": report.accuracyStandardDeviation, "best_thresholds": report.bestThresholds,
                "seconds": Date().timeIntervalSince(start),
            ]
            if let auc = report.rocAUC { entry["roc_auc"] = auc }
            if let table = report.tarAtFAR { entry["tar_at_far"] = table.map { ["far": $0.far, "tar": $0.tar] } }
            sets.append(entry)
        }
        if let record {
            try JSONEncoder().encode(record).write(to: model.evaluationRecord, options: .atomic)
        }
        if let ijb {
            let report = try IJBEvaluation.evaluate(root: URL(fileURLWithPath: ijb), target: ijbTarget, embedder: embedder,
                                                    batchSize: model.batchSize)
            print(report.tableText)
            summary["ijb"] = ["target": ijbTarget, "roc_auc": report.rocAUC,
                              "tar_at_far": report.tarAtFAR.map { ["far": $0.far, "tar": $0.tar] }] as [String: Any]
            if let plot { try AtomicFile.write(Data(report.figure().svg().utf8), to: URL(fileURLWithPath: plot)) }
        }
        summary["sets"] = sets
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed face images (aligned crops) into L2-normalised features, written as an NPY file.",
        discussion: "Each row is normalize(f(x) + f(flip x)), the features `eval` compares (insightface's flip test; a zero sum stays zero); --no-flip uses f(x) alone.")

    @OptionGroup var model: CheckpointOptions
    @Argument(help: "JPEG images.") var images: [String]
    @Option(help: "The output .npy (float32, [images, embedding]).") var output: String
    @Flag(inversion: .prefixedNo, help: "Add the mirror image's embedding before normalising.") var flip = true

    func run() throws {
        let (checkpoint, embedder) = try model.load()
        let rows = try Verification.features(of: images.map { try decodeImage($0) }, embedder: embedder,
                                             batchSize: embedder.batchSize, flip: flip)
        try NPY.write(rows.flatMap { $0.map { Float($0) } }, shape: [rows.count, checkpoint.embeddingSize], to: URL(fileURLWithPath: output))
        print("wrote \(rows.count) embeddings of \(checkpoint.embeddingSize) floats to \(output)")
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a backbone as an ONNX model, as arcface_torch's torch2onnx.py does.",
        discussion: "Evaluation mode; one float32 input `data` [batch, 3, H, W] with a dynamic batch, opset 11, the embedding (not normalised) as output. Check it with ONNX Runtime; `--checkpoint model.onnx` reads it back.")

    @OptionGroup var model: CheckpointOptions
    @Option(help: "The ONNX file to write.") var output: String
    @Flag(help: "Fold each batch norm that follows a convolution into the convolution (fewer nodes; the same embeddings to float rounding).")
    var foldBatchnorm = false

    func run() throws {
        let checkpoint = try ModelCheckpoint(contentsOf: URL(fileURLWithPath: model.checkpoint), network: model.network)
        try checkpoint.exportONNX(to: URL(fileURLWithPath: output), foldBatchNorm: foldBatchnorm)
        print("wrote \(checkpoint.network) (\(checkpoint.imageSize)x\(checkpoint.imageSize) -> \(checkpoint.embeddingSize)) to \(output)")
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Are two face images the same person? Prints their cosine similarity and the call.",
        discussion: "The threshold is --threshold (a cosine) or the one `haarface eval` last found for this checkpoint.")

    @OptionGroup var model: CheckpointOptions
    @Argument(help: "The first image.") var first: String
    @Argument(help: "The second image.") var second: String
    @Option(help: "Cosine similarity at or above which the two are called the same person.") var threshold: Double?

    func run() throws {
        let cut: Double
        let origin: String
        if let threshold {
            cut = threshold
            origin = "--threshold"
        } else if let data = try? Data(contentsOf: model.evaluationRecord),
                  let record = try? JSONDecoder().decode(EvaluationRecord.self, from: data) {
            cut = record.cosineThreshold
            origin = "\(model.evaluationRecord.path) (\(record.set))"
        } else {
            throw CommandFailure("no threshold: pass --threshold, or run `haarface eval --checkpoint \(model.checkpoint) --bin SET` first")
        }
        let (_, embedder) = try model.load()
        let rows = try Verification.features(of: [try decodeImage(first), try decodeImage(second)], embedder: embedder,
                                             batchSize: embedder.batchSize)
        let cosine = Verification.cosineSimilarities(pairsOf: rows)[0]
        print(String(format: "cosine similarity %.4f, threshold %.4f from %@: %@", cosine, cut, origin,
                     cosine >= cut ? "same person" : "different people"))
    }
}

func decodeImage(_ path: String) throws -> RGBImage {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CommandFailure("\(path): cannot read the image")
    }
    return try JPEGCodec().decode(data, source: path)
}
