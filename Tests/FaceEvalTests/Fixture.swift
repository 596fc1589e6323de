import Foundation
import XCTest

/// Reads the JSON fixtures written by scripts/reference/eval_fixtures.py.
enum Fixture {
    static func load(_ name: String) throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/\(name)")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        return try XCTUnwrap(object as? [String: Any], "\(name) is not a JSON object")
    }

    /// Little-endian values stored as base64 by the script's `b64`.
    static func decode<T>(_ base64: Any?, as: T.Type) throws -> [T] {
        let text = try XCTUnwrap(base64 as? String, "expected a base64 string")
        let data = try XCTUnwrap(Data(base64Encoded: text), "bad base64")
        XCTAssertEqual(data.count % MemoryLayout<T>.stride, 0)
        return data.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
    }

    static func doubles(_ base64: Any?) throws -> [Double] { try decode(base64, as: Double.self) }

    /// A TAR table stored as columns far / achievedFAR / tar.
    static func table(_ json: Any?) throws -> (far: [Double], achievedFAR: [Double], tar: [Double]) {
        let columns = try XCTUnwrap(json as? [String: Any], "expected a table object")
        return (try doubles(columns["far"]), try doubles(columns["achievedFAR"]), try doubles(columns["tar"]))
    }

    static func matrix(_ base64: Any?) throws -> AffineRows {
        let values = try doubles(base64)
        XCTAssertEqual(values.count, 6)
        return [Array(values[0..<3]), Array(values[3..<6])]
    }

    static func rows(_ values: [Float], dimension: Int) -> [[Float]] {
        stride(from: 0, to: values.count, by: dimension).map { Array(values[$0..<($0 + dimension)]) }
    }
}

typealias AffineRows = [[Double]]

/// |actual - expected| <= atol + rtol * |expected|, element by element (numpy's isclose).
func assertClose(_ actual: [Double], _ expected: [Double], rtol: Double, atol: Double,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(message): lengths", file: file, line: line)
    for (index, (a, e)) in zip(actual, expected).enumerated() where !(abs(a - e) <= atol + rtol * abs(e)) {
        XCTFail("\(message)[\(index)]: \(a) vs expected \(e)", file: file, line: line)
        return
    }
}

func assertClose(_ actual: Double, _ expected: Double, rtol: Double, atol: Double,
                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    assertClose([actual], [expected], rtol: rtol, atol: atol, message, file: file, line: line)
}
