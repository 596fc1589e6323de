import Foundation

/// Writes a synthetic face set to disk.
///
/// Layout under the output folder:
/// - `folder` format: `train/<identity>/<image>.jpg`, both numbers zero-padded so that sorted order is
///   numeric order (class index = position of the folder name in sorted order, as ImageFolder reads it);
/// - `rec` format: `train.rec` + `train.idx` with InsightFace's header records;
/// - with pairs: `synth_val.bin` (insightface's pickle) and FastFace's `synth_val/imgs/0.jpg ...
///   (2P-1).jpg` + `synth_val/pair_label.npy`; the name makes the set usable as val target "synth_val";
/// - `synth.json`: the settings and counts, so a cached set can be recognised.
public enum SynthWriter {
    public enum Format: String, Sendable, CaseIterable { case folder, rec }

    /// The verification set's name (its .bin file and FastFace folder).
    public static let verificationName = "synth_val"

    /// What was written.
    public struct Summary: Sendable, Equatable {
        public var trainingImages: Int
        public var pairImages: Int
        public var encodedBytes: Int
        public var seconds: Double
        public var imagesPerSecond: Double { Double(trainingImages + pairImages) / max(seconds, 1e-9) }
    }

    /// Images rendered and encoded in parallel per batch: large enough to keep every core busy, small
    /// enough to bound memory whatever the set size.
    static let batchSize = 2048

    /// Writes `faces` under `directory` (created if missing; it must be empty when it exists).
    /// `verificationImages`, when given, receives the encoded pair images in order (for the baseline).
    public static func write(_ faces: SyntheticFaces, to directory: URL, format: Format,
                             verificationImages: ((Data) -> Void)? = nil) throws -> Summary {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw SynthError("\(directory.path): expected an output folder, found a file; pick another --output")
            }
            let contents = try manager.contentsOfDirectory(atPath: directory.path)
            guard contents.isEmpty else {
                throw SynthError("""
                    \(directory.path): the output folder must be empty, found \(contents.count) entries \
                    (e.g. \(contents.sorted()[0])); remove it or pick another --output
                    """)
            }
        }
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        let start = DispatchTime.now()
        var bytes = 0

        let config = faces.config
        let identityDigits = String(config.identities - 1).count
        let imageDigits = String(config.imagesPerIdentity - 1).count
        let trainDirectory = directory.appendingPathComponent("train")
        switch format {
        case .folder:
            for identity in 0..<config.identities {
                try manager.createDirectory(at: trainDirectory.appendingPathComponent(padded(identity, identityDigits)),
                                            withIntermediateDirectories: true)
            }
            try forEachBatch(faces, .training, count: faces.trainingImageCount) { index, jpeg in
                let identity = index / config.imagesPerIdentity, number = index % config.imagesPerIdentity
                let url = trainDirectory.appendingPathComponent(padded(identity, identityDigits))
                    .appendingPathComponent(padded(number, imageDigits) + ".jpg")
                try write(jpeg, to: url)
                bytes += jpeg.count
            }
        case .rec:
            let writer = try InsightFaceRecordWriter(directory: directory, prefix: "train")
            try forEachBatch(faces, .training, count: faces.trainingImageCount) { index, jpeg in
                try writer.append(jpeg: jpeg, label: faces.trainingLabel(index))
                bytes += jpeg.count
            }
            try writer.finish()
        }

        if config.pairs > 0 {
            let setDirectory = directory.appendingPathComponent(verificationName)
            let imagesDirectory = setDirectory.appendingPathComponent("imgs")
            try manager.createDirectory(at: imagesDirectory, withIntermediateDirectories: true)
            var images: [Data] = []
            images.reserveCapacity(2 * config.pairs)
            try forEachBatch(faces, .pair, count: 2 * config.pairs) { index, jpeg in
                try write(jpeg, to: imagesDirectory.appendingPathComponent("\(index).jpg"))
                bytes += jpeg.count
                images.append(jpeg)
                verificationImages?(jpeg)
            }
            let same = faces.pairs.map(\.same)
            try VerificationBin.write(images: images, sameIdentity: same,
                                      to: directory.appendingPathComponent(verificationName + ".bin"))
            try NPY.write(same, to: setDirectory.appendingPathComponent("pair_label.npy"))
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        try writeManifest(config, format: format, to: directory.appendingPathComponent("synth.json"))
        return Summary(trainingImages: faces.trainingImageCount, pairImages: 2 * config.pairs,
                       encodedBytes: bytes, seconds: seconds)
    }

    private static func forEachBatch(_ faces: SyntheticFaces, _ kind: SyntheticFaces.ImageKind, count: Int,
                                     _ body: (Int, Data) throws -> Void) throws {
        var start = 0
        while start < count {
            let end = min(start + batchSize, count)
            let batch = try faces.encoded(kind, start..<end)
            for (offset, jpeg) in batch.enumerated() { try body(start + offset, jpeg) }
            start = end
        }
    }

    private static func padded(_ value: Int, _ digits: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// Writes `data` with plain POSIX calls: Foundation's `Data.write` syncs every file to disk, which
    /// makes thousands of small images many times slower and buys no safety the manifest does not give.
    static func write(_ data: Data, to url: URL) throws {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw SynthError("\(url.path): could not create (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else {
                    throw SynthError("\(url.path): could not write (\(String(cString: strerror(errno))))")
                }
                offset += written
            }
        }
    }

    /// The manifest (`synth.json`): settings and counts, keys sorted so that the file is byte-identical for
    /// a seed. It is written last, so its presence means the set is complete.
    struct Manifest: Codable, Equatable {
        var generator = "haarface synth"
        var config: SynthConfig
        var format: String
        var heldOutIdentities: Int
        var trainingImages: Int
        var pairs: Int
        var verification: String?
    }

    static func writeManifest(_ config: SynthConfig, format: Format, to url: URL) throws {
        let manifest = Manifest(config: config, format: format.rawValue, heldOutIdentities: config.heldOutIdentities,
                                trainingImages: config.identities * config.imagesPerIdentity, pairs: config.pairs,
                                verification: config.pairs > 0 ? verificationName : nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(encoder.encode(manifest), to: url)
    }

    /// The settings and format of a complete set previously written under `directory`, or nil when there
    /// is none (no readable `synth.json`): lets a caller reuse a cached set instead of rendering it again.
    public static func existingSet(at directory: URL) -> (config: SynthConfig, format: Format)? {
        let url = directory.appendingPathComponent("synth.json")
        guard let data = try? Data(contentsOf: url),
              let manifest = try? JSONDecoder().decode(Manifest.self, from: data),
              let format = Format(rawValue: manifest.format)
        else { return nil }
        return (manifest.config, format)
    }
}
