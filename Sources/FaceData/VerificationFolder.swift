import Foundation

/// FastFace's folder form of a verification set: `<name>/imgs/0.jpg ... (2N-1).jpg` and
/// `<name>/pair_label.npy` (bool vector of N entries).
public enum VerificationFolder {
    public static func read(_ folder: URL) throws -> VerificationSet {
        let labelsURL = folder.appendingPathComponent("pair_label.npy")
        let flags = try NPY.read(labelsURL)
        guard flags.shape.count == 1 else {
            throw DataFormatError(file: labelsURL.path, message: "expected a vector of N pair labels, found shape \(flags.shape)")
        }
        let sameIdentity: [Bool]
        switch flags.descr {
        case "|b1": sameIdentity = try flags.bools(file: labelsURL.path)
        case "|u1", "|i1": sameIdentity = flags.data.map { $0 != 0 }
        default:
            throw DataFormatError(file: labelsURL.path, message: "expected dtype |b1 (bool) pair labels, found \(flags.descr)")
        }
        let imagesFolder = folder.appendingPathComponent("imgs")
        var images: [Data] = []
        images.reserveCapacity(2 * sameIdentity.count)
        for index in 0..<(2 * sameIdentity.count) {
            let url = imagesFolder.appendingPathComponent("\(index).jpg")
            do {
                images.append(try Data(contentsOf: url))
            } catch {
                throw DataFormatError(file: url.path, message: "missing image: \(sameIdentity.count) pairs in "
                                          + "pair_label.npy need imgs/0.jpg ... imgs/\(2 * sameIdentity.count - 1).jpg")
            }
        }
        return VerificationSet(name: folder.lastPathComponent, images: images, sameIdentity: sameIdentity)
    }

    /// Writes `imgs/<i>.jpg` for each encoded image and `pair_label.npy`.
    public static func write(images: [Data], sameIdentity: [Bool], to folder: URL) throws {
        precondition(images.count == 2 * sameIdentity.count,
                     "a verification set needs 2 images per pair: \(images.count) images, \(sameIdentity.count) pairs")
        let imagesFolder = folder.appendingPathComponent("imgs")
        do {
            try FileManager.default.createDirectory(at: imagesFolder, withIntermediateDirectories: true)
            for (index, image) in images.enumerated() {
                try image.write(to: imagesFolder.appendingPathComponent("\(index).jpg"))
            }
        } catch {
            throw DataFormatError(file: imagesFolder.path, message: "cannot write (\(error.localizedDescription))")
        }
        try NPY.write(sameIdentity, to: folder.appendingPathComponent("pair_label.npy"))
    }
}
