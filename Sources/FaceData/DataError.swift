import Foundation

/// A data file that does not hold what its format promises: `file` names it, `location` the record,
/// line or byte offset, and `message` says what was expected and what was found.
public struct DataFormatError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var location: String
    public var message: String

    public init(file: String, location: String = "", message: String) {
        self.file = file
        self.location = location
        self.message = message
    }

    public var description: String {
        location.isEmpty ? "\(file): \(message)" : "\(file): \(location): \(message)"
    }
}
