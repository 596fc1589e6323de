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
    /// `url`: any data set `DataSetLocation` recognises: a .rec (or .idx), a .bin, a FastFace verification
    /// folder (pair_label.npy + imgs/), a folder holding train.rec, or an image folder.
    public static func inspect(_ url: URL) throws -> DataSetSummary {
        let codec = JPEGCodec()
        let location = try DataSetLocation.locate(url)
        switch location {
        case .recordIO(let record, let index):
            return try summary(of: try RecordIOSource(recordURL: record, indexURL: index), kind: location.kind, codec: codec)
        case .imageFolder:
            let source = try location.trainingSource()
            return DataSetSummary(kind: location.kind, images: source.count, identities: source.classCount,
                                  imageSize: try firstImageSize(source, codec: codec))
        case .verificationBin, .verificationFolder:
            return summary(of: try location.verificationSet(), kind: location.kind, codec: codec)
        }
    }

    private static func summary(of source: RecordIOSource, kind: String, codec: JPEGCodec) throws -> DataSetSummary {
        let layout: String
        switch source.layout {
        case .insightFace: layout = "insightface"
        case .headerless: layout = "im2rec"
        }
        return DataSetSummary(kind: kind, layout: layout, images: source.count, identities: source.classCount,
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
