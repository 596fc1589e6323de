import Foundation

/// A labelled collection of encoded face images, read by index: an image folder, a RecordIO file,
/// a synthetic set. Sources are read from several loader threads at once, so they must be safe to
/// read concurrently.
public protocol ImageSource: Sendable {
    /// Number of images.
    var count: Int { get }
    /// Number of identities; labels lie in `0..<classCount`.
    var classCount: Int { get }
    /// The identity of image `index`.
    func label(at index: Int) throws -> Int
    /// The encoded bytes (JPEG or PNG) of image `index`.
    func encodedImage(at index: Int) throws -> Data
    /// Names image `index` in error messages: a file path, or a .rec file with a record key.
    func describe(_ index: Int) -> String
}
