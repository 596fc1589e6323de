import Foundation
import XCTest
@testable import FaceData

enum TestPaths {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// A fresh empty folder under the temporary directory.
    static func temporaryFolder(_ name: String = #function) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("facedata-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Runs Debian's python3 (standard library only) on a script or snippet and returns its stdout.
enum Python {
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DataFormatError(file: "python3", message: String(decoding: errData, as: UTF8.self))
        }
        return String(decoding: outData, as: UTF8.self)
    }

    static func json(_ arguments: [String]) throws -> [String: Any] {
        let text = try run(arguments)
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw DataFormatError(file: "python3", message: "not a JSON object: \(text)")
        }
        return object
    }
}

/// Small JPEGs of flat colours, made with our encoder.
func makeJPEG(width: Int = 8, height: Int = 8, red: UInt8, green: UInt8 = 100, blue: UInt8 = 50, quality: Int = 95) throws -> Data {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) { pixels[3 * i] = red; pixels[3 * i + 1] = green; pixels[3 * i + 2] = blue }
    return try JPEGCodec().encode(RGBImage(width: width, height: height, pixels: pixels), quality: quality)
}

extension Data {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}
