import Foundation

/// An image folder as torchvision's `ImageFolder` reads it: one subfolder per identity, class index =
/// position of the subfolder name in sorted order (by code point, as Python sorts), images found
/// recursively inside it and taken in sorted path order.
public final class ImageFolderSource: ImageSource, Sendable {
    /// The extensions read (lower-cased): JPEG, and PNG, which is recognised and rejected with a hint when read.
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    public let root: URL
    /// Subfolder names in class order.
    public let classNames: [String]
    private let files: [URL]
    private let labels: [Int32]

    public var count: Int { files.count }
    public var classCount: Int { classNames.count }

    public init(root: URL) throws {
        self.root = root
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataFormatError(file: root.path, message: "not a folder")
        }
        let entries = try Self.sortedEntries(root)
        let classFolders = entries.filter { Self.isDirectory($0) }
        guard !classFolders.isEmpty else {
            throw DataFormatError(file: root.path, message: "empty folder: expected one subfolder per identity holding "
                                      + "its images (e.g. \(root.path)/0001/0.jpg)")
        }
        var files: [URL] = []
        var labels: [Int32] = []
        for (label, folder) in classFolders.enumerated() {
            let images = try Self.imagesRecursively(in: folder)
            guard !images.isEmpty else {
                throw DataFormatError(file: folder.path, message: "identity folder holds no .jpg/.jpeg/.png image")
            }
            files += images
            labels += repeatElement(Int32(label), count: images.count)
        }
        self.classNames = classFolders.map(\.lastPathComponent)
        self.files = files
        self.labels = labels
    }

    public func label(at index: Int) throws -> Int { Int(labels[index]) }

    public func encodedImage(at index: Int) throws -> Data {
        do {
            return try Data(contentsOf: files[index])
        } catch {
            throw DataFormatError(file: files[index].path, message: "cannot read (\(error.localizedDescription))")
        }
    }

    public func describe(_ index: Int) -> String { files[index].path }

    /// The file of image `index`.
    public func file(at index: Int) -> URL { files[index] }

    static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Entries of `folder` sorted by name in code-point order (Python's `sorted`), hidden ones skipped.
    static func sortedEntries(_ folder: URL) throws -> [URL] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        } catch {
            throw DataFormatError(file: folder.path, message: "cannot list (\(error.localizedDescription))")
        }
        return names.filter { !$0.hasPrefix(".") }
            .sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
            .map { folder.appendingPathComponent($0) }
    }

    /// Image files under `folder`: its own files in sorted order, then each subfolder's, in sorted order.
    static func imagesRecursively(in folder: URL) throws -> [URL] {
        var images: [URL] = []
        var subfolders: [URL] = []
        for entry in try sortedEntries(folder) {
            if isDirectory(entry) {
                subfolders.append(entry)
            } else if imageExtensions.contains(entry.pathExtension.lowercased()) {
                images.append(entry)
            }
        }
        for subfolder in subfolders { images += try imagesRecursively(in: subfolder) }
        return images
    }
}
