// The readers of untrusted bytes, one fuzz target each, driven the way the commands drive them: by the libFuzzer
// driver (Fuzz/Targets, `make fuzz`) and by the tests that replay what fuzzing found (Fuzz/regressions). A thrown
// error is a correct answer; a trap, crash, hang, leak, unbounded allocation or AddressSanitizer report is a bug.
// Readers that take a path get the input through a file in /dev/shm.
import FaceData
import FaceEval
import Foundation
import MHLR
import NN
import Synchronization
import Training

public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The `.idx` text, a NUL byte, then the `.rec` bytes: opens the pair and reads every image's label and bytes.
    case recordio
    /// A verification `.bin` pickle.
    case pickle
    /// An `.npy` file.
    case npy
    /// The data.pkl of a torch.save zip archive (a state_dict's restricted pickle).
    case torchpickle
    /// A legacy (pre-1.6) torch.save file.
    case torchlegacy
    /// A JPEG through the TurboJPEG wrapper.
    case jpeg
    /// A safetensors file.
    case safetensors
    /// A backbone checkpoint: a safetensors file, as `eval --model`, `export` and `train --init` load it
    /// (the network told by its metadata or keys, built, and its state loaded).
    case checkpoint
    /// A whole arcface_torch .pth (torch.save's zip archive), loaded as a backbone checkpoint.
    case pth
    /// An ONNX model, loaded as a backbone checkpoint.
    case onnx
    /// A training.log or loss CSV, replayed through MHLR as `haarface replay` does.
    case traininglog
    /// A metrics.csv.
    case metrics
    /// A YAML training config.
    case yaml
    /// A JSON training config.
    case json
    /// A study file (YAML).
    case study
    /// IJB meta files (template-media, landmarks and pairs, separated by NUL bytes), each face then aligned.
    case ijb

    /// Reads `data` as this target's format; rethrows the reader's refusal.
    public func run(_ data: Data) throws {
        switch self {
        case .pickle:
            _ = try VerificationBin.decode(data, name: "fuzz", file: "fuzz.bin")
        case .npy:
            _ = try NPY.decode(data, file: "fuzz.npy")
        case .torchpickle:
            _ = try TorchStateDict.records(pickle: data, file: "fuzz.pkl")
        case .torchlegacy:
            _ = try TorchStateDict.legacy(data, file: "fuzz.pth")
        case .recordio:
            let parts = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
            let index = scratch("idx", parts[0]), record = scratch("rec", parts.count > 1 ? parts[1] : Data())
            let source = try RecordIOSource(recordURL: record, indexURL: index)
            var refusal: Error?   // every image is read, as the loader does; the first refusal is rethrown
            for image in 0..<min(source.count, 64) {
                do { _ = try source.label(at: image) } catch { refusal = refusal ?? error }
                do { _ = try source.encodedImage(at: image) } catch { refusal = refusal ?? error }
            }
            if let refusal { throw refusal }
        case .jpeg:
            _ = try Self.codec.decode(data, source: "fuzz.jpg")
        case .safetensors:
            _ = try SafeTensors.decode([UInt8](data), file: "fuzz.safetensors")
        case .checkpoint:
            try loadCheckpoint(scratch("safetensors", data))
        case .pth:
            try loadCheckpoint(scratch("pth", data))
        case .onnx:
            try loadCheckpoint(scratch("onnx", data))
        case .traininglog:
            let log = try TrainingLog(bytes: data, source: "fuzz.log")
            // The parser bounds a log's steps (TrainingLog.maximumStep); the replay here is bounded lower so that
            // one input costs milliseconds, not seconds.
            guard log.lastStep <= 100_000 else { return }
            let scheduler = try SchedulerSpec(kind: .mhlr).makeScheduler(defaultTotalSteps: log.lastStep, defaultBaseLR: 0.1)
            var recorder = ScheduleRecorder(scheduler)
            log.forEachStep(startingEpoch: { _ in recorder.noteEpochBoundary() }) { _, loss in _ = recorder.step(loss: loss) }
        case .metrics:
            _ = try MetricsRow.read(scratch("csv", data))
        case .yaml:
            _ = try TrainingConfig.load(scratch("yaml", data))
        case .json:
            _ = try TrainingConfig.load(scratch("json", data))
        case .study:
            _ = try Study.load(scratch("yaml", data))
        case .ijb:
            let parts = data.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
            func part(_ index: Int) -> Data { index < parts.count ? Data(parts[index]) : Data() }
            let meta = try IJBMeta.parse(templateMedia: part(0), landmarks: part(1), pairs: part(2),
                                         imageDirectory: URL(fileURLWithPath: "/nonexistent"),
                                         names: ("tid_mid.txt", "5pts_score.txt", "pair_label.txt"))
            for face in meta.faces.prefix(16) {
                _ = try FaceAlignment.align(Self.crop, landmarks: face.landmarks, source: face.imageName)
            }
        }
    }

    /// Removes the scratch files this process's runs left in /dev/shm (Fuzz/run.sh removes the fuzzers').
    public static func removeScratchFiles() {
        let folder = scratchBase.deletingLastPathComponent(), prefix = scratchBase.lastPathComponent + "."
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasPrefix(prefix) {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
    }

    /// `ModelCheckpoint(contentsOf:)`, but into a backbone kept from an earlier input of the same network and
    /// sizes: building an r18 (44 MB of zeros) for each input spent 60% of the checkpoint target's time outside
    /// any reader. Reuse cannot change an answer: a refused file leaves the backbone as it was, an accepted one
    /// overwrites all its state.
    private func loadCheckpoint(_ url: URL) throws {
        let contents = try ModelCheckpoint.Contents(contentsOf: url)
        let kind = "\(contents.network) \(contents.embeddingSize) \(contents.imageSize)"
        let backbone = try Self.backbones.withLock { backbones in
            if let built = backbones[kind] { return built }
            if backbones.count >= 4 { backbones.removeAll() }   // a few kinds at a time: memory stays bounded
            let built = try Backbone.make(network: contents.network, embeddingSize: contents.embeddingSize,
                                          imageSize: contents.imageSize, initialization: .zeros)
            backbones[kind] = built
            return built
        }
        _ = try ModelCheckpoint(contents, loadingInto: backbone)
    }

    private static let backbones = Mutex<[String: any UnaryLayer]>([:])
    private static let codec = JPEGCodec()
    /// A loose crop for the IJB faces' alignment.
    private static let crop = RGBImage(width: 32, height: 32)
}

/// The file `fuzz-<pid>.<extension>` in memory (tmpfs), holding `bytes`: each run costs microseconds, not a
/// disk write. Run.sh removes them afterwards.
private func scratch(_ pathExtension: String, _ bytes: Data) -> URL {
    let url = scratchBase.appendingPathExtension(pathExtension)
    try? bytes.write(to: url)
    return url
}

private let scratchBase = URL(fileURLWithPath: FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
    .appendingPathComponent("haarface-fuzz-\(ProcessInfo.processInfo.processIdentifier)")
