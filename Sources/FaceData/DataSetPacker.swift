import Foundation

/// Packs an image folder into InsightFace's train.rec/train.idx (what `haarface data pack` does).
public enum DataSetPacker {
    /// Copies every image's bytes unchanged (JPEG only: checked by its start-of-image marker) in class order.
    /// Returns the number of images and identities written.
    @discardableResult
    public static func pack(folder: URL, output: URL, prefix: String = "train") throws -> (images: Int, identities: Int) {
        let location = try DataSetLocation.locate(folder)
        guard case .imageFolder = location else {
            throw DataFormatError(file: folder.path, message: "\(location.role), not an image folder: pack takes one "
                                      + "subfolder of JPEGs per identity")
        }
        let source = try ImageFolderSource(root: folder)
        let writer = try InsightFaceRecordWriter(directory: output, prefix: prefix)
        for index in 0..<source.count {
            let bytes = try source.encodedImage(at: index)
            guard bytes.count >= 3, bytes[bytes.startIndex] == 0xFF, bytes[bytes.startIndex + 1] == 0xD8 else {
                throw DataFormatError(file: source.describe(index), message: "not a JPEG (RecordIO sets hold JPEGs): convert it first")
            }
            try writer.append(jpeg: bytes, label: try source.label(at: index))
        }
        try writer.finish()
        return (source.count, source.classCount)
    }
}
