import FaceData
import Foundation

/// Where a run's images come from: the training source and the verification sets.
public struct TrainingData {
    public var source: any ImageSource
    /// A line for the log: what the source is.
    public var summary: String
    public var validation: [VerificationSet]

    /// Resolves `config.rec` (a folder holding train.rec/train.idx as arcface_torch expects, a .rec file, or an
    /// image folder with one sub-folder per identity) and `config.valTargets` (names of `<name>.bin` files
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
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: rec.path, isDirectory: &isDirectory) else {
            throw ConfigError(file: rec.path, message: "rec: no such file or folder (expected a folder with train.rec and train.idx, or an image folder)")
        }
        let source: any ImageSource
        let summary: String
        let dataDirectory = isDirectory.boolValue ? rec : rec.deletingLastPathComponent()
        if !isDirectory.boolValue {
            source = try RecordIOSource(recordURL: rec)
            summary = "RecordIO \(rec.path)"
        } else if FileManager.default.fileExists(atPath: rec.appendingPathComponent("train.rec").path) {
            source = try RecordIOSource(recordURL: rec.appendingPathComponent("train.rec"))
            summary = "RecordIO \(rec.appendingPathComponent("train.rec").path)"
        } else {
            source = try ImageFolderSource(root: rec)
            summary = "image folder \(rec.path)"
        }
        let validation = try config.valTargets.map { try verificationSet(named: $0, beside: dataDirectory) }
        return TrainingData(source: source, summary: "\(summary): \(source.count) images of \(source.classCount) identities",
                            validation: validation)
    }

    /// A verification set by name (`lfw` -> `<directory>/lfw.bin` or the FastFace folder `<directory>/lfw`) or path.
    public static func verificationSet(named target: String, beside directory: URL) throws -> VerificationSet {
        let candidates = [URL(fileURLWithPath: target), directory.appendingPathComponent(target + ".bin"),
                          directory.appendingPathComponent(target)]
        for url in candidates {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                guard FileManager.default.fileExists(atPath: url.appendingPathComponent("pair_label.npy").path) else { continue }
                var set = try VerificationFolder.read(url)
                set.name = url.lastPathComponent
                return set
            }
            var set = try VerificationBin.read(url)
            set.name = (url.lastPathComponent as NSString).deletingPathExtension
            return set
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
