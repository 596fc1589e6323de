import Foundation

/// What `haarface data inspect` reports about a data set.
public struct DataSetSummary: Codable, Equatable, Sendable {
    public struct Pairs: Codable, Equatable, Sendable {
        public var same: Int
        public var different: Int
    }

    public struct ImageSize: Codable, Equatable, Sendable {
        public var width: Int
        public var height: Int
    }

    /// recordio, image-folder, verification-bin or verification-folder.
    public var kind: String
    /// For RecordIO: insightface (header record 0) or im2rec (header-less).
    public var layout: String?
    public var images: Int
    /// Training sets only.
    public var identities: Int?
    /// Verification sets only.
    public var pairs: Pairs?
    /// The size of the first image.
    public var imageSize: ImageSize?

    enum CodingKeys: String, CodingKey {
        case kind, layout, images, identities, pairs, imageSize = "image_size"
    }
}

/// Recognises a data set by its files and summarises it.
public enum DataSetInspector {
    /// `url`: a .rec (or .idx), a .bin, a FastFace verification folder (pair_label.npy + imgs/), a folder
    /// holding train.rec, or an image folder.
    public static func inspect(_ url: URL) throws -> DataSetSummary {
        let codec = JPEGCodec()
        let manager = FileManager.default
        guard manager.fileExists(atPath: url.path) else {
            throw DataFormatError(file: url.path, message: "no such file or folder")
        }
        if ImageFolderSource.isDirectory(url) {
            if manager.fileExists(atPath: url.appendingPathComponent("pair_label.npy").path) {
                return summary(of: try VerificationFolder.read(url), kind: "verification-folder", codec: codec)
            }
            let record = url.appendingPathComponent("train.rec")
            if manager.fileExists(atPath: record.path) {
                return try summary(of: try RecordIOSource(recordURL: record), codec: codec)
            }
            let source = try ImageFolderSource(root: url)
            return DataSetSummary(kind: "image-folder", images: source.count, identities: source.classCount,
                                  imageSize: try firstImageSize(source, codec: codec))
        }
        switch url.pathExtension.lowercased() {
        case "rec":
            return try summary(of: try RecordIOSource(recordURL: url), codec: codec)
        case "idx":
            return try summary(of: try RecordIOSource(recordURL: url.deletingPathExtension().appendingPathExtension("rec"),
                                                      indexURL: url), codec: codec)
        case "bin":
            return summary(of: try VerificationBin.read(url), kind: "verification-bin", codec: codec)
        default:
            throw DataFormatError(file: url.path, message: "unknown data set: expected a .rec, .idx or .bin file, "
                                      + "a verification folder (pair_label.npy + imgs/) or an image folder")
        }
    }

    private static func summary(of source: RecordIOSource, codec: JPEGCodec) throws -> DataSetSummary {
        let layout: String
        switch source.layout {
        case .insightFace: layout = "insightface"
        case .headerless: layout = "im2rec"
        }
        return DataSetSummary(kind: "recordio", layout: layout, images: source.count, identities: source.classCount,
                              imageSize: try firstImageSize(source, codec: codec))
    }

    private static func summary(of set: VerificationSet, kind: String, codec: JPEGCodec) -> DataSetSummary {
        let same = set.sameIdentity.filter { $0 }.count
        let size = set.imageCount == 0 ? nil : try? set.image(at: 0, codec: codec)
        return DataSetSummary(kind: kind, images: set.imageCount,
                              pairs: .init(same: same, different: set.pairCount - same),
                              imageSize: size.map { .init(width: $0.width, height: $0.height) })
    }

    private static func firstImageSize(_ source: any ImageSource, codec: JPEGCodec) throws -> DataSetSummary.ImageSize {
        let image = try ImageDecoder.decode(try source.encodedImage(at: 0), codec: codec, source: source.describe(0))
        return .init(width: image.width, height: image.height)
    }
}
