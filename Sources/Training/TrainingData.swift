import FaceData
import Foundation

/// Where a run's images come from: the training source and the verification sets.
public struct TrainingData {
    public var source: any ImageSource
    /// A line for the log: what the source is.
    public var summary: String
    public var validation: [VerificationSet]

    /// Resolves `config.rec` (a training set as `DataSetLocation` recognises it: a folder holding train.rec/train.idx
    /// as arcface_torch expects, a .rec file, or an image folder with one sub-folder per identity) and `config.valTargets` (names of `<name>.bin` files
    /// beside the training data, or paths to .bin files or FastFace folders). An empty `rec` means the embedded
    /// synthetic default, generated once into `<output>/synthetic` and reused while its settings are unchanged.
    public static func resolve(_ config: TrainingConfig, synthetic: SynthConfig, outputDirectory: URL,
                               note: (String) -> Void) throws -> TrainingData {
        var config = config
        if config.rec.isEmpty {
            let directory = outputDirectory.appendingPathComponent("synthetic")
            try ensureSynthetic(synthetic, in: directory, note: note)
            config.rec = directory.path
            if config.valTargets.isEmpty { config.valTargets = [SynthWriter.verificationName] }
        }
        let rec = URL(fileURLWithPath: config.rec)
        let location = try DataSetLocation.locate(rec)
        let source = try location.trainingSource()
        // Verification sets named by val_targets sit beside the data: in its folder, or beside a .rec file.
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: rec.path, isDirectory: &isDirectory)
        let dataDirectory = isDirectory.boolValue ? rec : rec.deletingLastPathComponent()
        let validation = try config.valTargets.map { try verificationSet(named: $0, beside: dataDirectory) }
        return TrainingData(source: source, summary: "\(location): \(source.count) images of \(source.classCount) identities",
                            validation: validation)
    }

    /// A verification set by name (`lfw` -> `<directory>/lfw.bin` or the FastFace folder `<directory>/lfw`) or
    /// path: the first of these that `DataSetLocation` finds to be a verification set.
    public static func verificationSet(named target: String, beside directory: URL) throws -> VerificationSet {
        let candidates = [URL(fileURLWithPath: target), directory.appendingPathComponent(target + ".bin"),
                          directory.appendingPathComponent(target)]
        for url in candidates {
            guard let location = try? DataSetLocation.locate(url), !location.isTrainingSet else { continue }
            return try location.verificationSet()
        }
        throw ConfigError(file: directory.appendingPathComponent(target + ".bin").path,
                          message: "val_targets: '\(target)' is neither a .bin file, a FastFace folder (imgs/ + pair_label.npy) nor a path to one")
    }

    /// Generates the synthetic set into `directory` unless it already holds exactly this one.
    static func ensureSynthetic(_ synthetic: SynthConfig, in directory: URL, note: (String) -> Void) throws {
        if let existing = SynthWriter.existingSet(at: directory), existing.config == synthetic, existing.format == .rec {
            note("synthetic data: reusing \(directory.path)")
            return
        }
        let manager = FileManager.default
        let partial = directory.deletingLastPathComponent().appendingPathComponent(directory.lastPathComponent + ".partial")
        try? manager.removeItem(at: partial)
        let faces = try SyntheticFaces(synthetic)
        let written = try SynthWriter.write(faces, to: partial, format: .rec)
        try? manager.removeItem(at: directory)
        try manager.moveItem(at: partial, to: directory)
        note(String(format: "synthetic data: %d training images of %d identities, %d held-out pairs, %dx%d, in %.1f s (%@)",
                    written.trainingImages, synthetic.identities, synthetic.pairs, synthetic.imageSize, synthetic.imageSize,
                    written.seconds, directory.path))
    }
}
