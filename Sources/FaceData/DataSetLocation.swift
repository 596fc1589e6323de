import Foundation

/// What data set is at a path: the one answer `haarface data inspect`, `train`, `eval`, `bench-data` and
/// `data pack` share. `locate` looks at names only (extensions, which files a folder holds); reading the
/// files, and their format errors, comes with `trainingSource()` and `verificationSet()`.
public enum DataSetLocation: Equatable, Sendable, CustomStringConvertible {
    /// A RecordIO pair: a .rec or .idx file, or a folder holding train.rec (arcface_torch's layout).
    case recordIO(record: URL, index: URL)
    /// torchvision's ImageFolder: one subfolder of images per identity.
    case imageFolder(URL)
    /// insightface's verification .bin (a pickle of encoded images and pair labels).
    case verificationBin(URL)
    /// FastFace's verification folder: pair_label.npy and imgs/0.jpg ... (2N-1).jpg.
    case verificationFolder(URL)

    /// What each kind looks like, for the messages.
    static let trainingKinds = "a .rec/.idx file, a folder with train.rec + train.idx, or an image folder with one subfolder per identity"
    static let verificationKinds = "a .bin file or a folder with pair_label.npy + imgs/"

    /// Recognises the data set at `url`; throws, naming the path, when there is none or it is of no known kind.
    public static func locate(_ url: URL) throws -> DataSetLocation {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DataFormatError(file: url.path, message: "no such file or folder")
        }
        let expected = "expected a training set (\(trainingKinds)) or a verification set (\(verificationKinds))"
        guard isDirectory.boolValue else {
            switch url.pathExtension.lowercased() {
            case "rec": return .recordIO(record: url, index: url.deletingPathExtension().appendingPathExtension("idx"))
            case "idx": return .recordIO(record: url.deletingPathExtension().appendingPathExtension("rec"), index: url)
            case "bin": return .verificationBin(url)
            default: throw DataFormatError(file: url.path, message: "unknown data set: \(expected)")
            }
        }
        if manager.fileExists(atPath: url.appendingPathComponent("pair_label.npy").path) { return .verificationFolder(url) }
        let record = url.appendingPathComponent("train.rec")
        if manager.fileExists(atPath: record.path) {
            return .recordIO(record: record, index: url.appendingPathComponent("train.idx"))
        }
        let entries = try ImageFolderSource.sortedEntries(url)
        guard !entries.isEmpty else { throw DataFormatError(file: url.path, message: "empty folder: \(expected)") }
        guard entries.contains(where: ImageFolderSource.isDirectory) else {
            throw DataFormatError(file: url.path, message: "no data set: the folder holds no train.rec, no pair_label.npy "
                                      + "and no identity subfolders; \(expected)")
        }
        return .imageFolder(url)
    }

    /// recordio, image-folder, verification-bin or verification-folder (`data inspect`'s `kind`).
    public var kind: String {
        switch self {
        case .recordIO: return "recordio"
        case .imageFolder: return "image-folder"
        case .verificationBin: return "verification-bin"
        case .verificationFolder: return "verification-folder"
        }
    }

    /// The file or folder the data is read from (a folder's train.rec for RecordIO).
    public var url: URL {
        switch self {
        case .recordIO(let record, _): return record
        case .imageFolder(let url), .verificationBin(let url), .verificationFolder(let url): return url
        }
    }

    /// What and where, for logs: "RecordIO /data/train.rec", "image folder /data/faces", ...
    public var description: String {
        switch self {
        case .recordIO: return "RecordIO \(url.path)"
        case .imageFolder: return "image folder \(url.path)"
        case .verificationBin: return "verification .bin \(url.path)"
        case .verificationFolder: return "verification folder \(url.path)"
        }
    }

    /// "a training set (recordio)", "a verification set (verification-bin)", ...: what a command that needs
    /// another kind says it was given.
    public var role: String { "\(isTrainingSet ? "a training set" : "a verification set") (\(kind))" }

    public var isTrainingSet: Bool {
        switch self {
        case .recordIO, .imageFolder: return true
        case .verificationBin, .verificationFolder: return false
        }
    }

    /// Opens a training set; a verification set is an error that says what was found and what is needed.
    public func trainingSource() throws -> any ImageSource {
        switch self {
        case .recordIO(let record, let index): return try RecordIOSource(recordURL: record, indexURL: index)
        case .imageFolder(let url): return try ImageFolderSource(root: url)
        case .verificationBin, .verificationFolder:
            throw DataFormatError(file: url.path, message: "\(role), not a training set: expected \(Self.trainingKinds)")
        }
    }

    /// Reads a verification set, named after its file (`lfw.bin` -> lfw) or folder; a training set is an
    /// error that says what was found and what is needed.
    public func verificationSet() throws -> VerificationSet {
        switch self {
        case .verificationBin(let url): return try VerificationBin.read(url)
        case .verificationFolder(let url): return try VerificationFolder.read(url)
        case .recordIO, .imageFolder:
            throw DataFormatError(file: url.path, message: "\(role), not a verification set: expected \(Self.verificationKinds)")
        }
    }
}
