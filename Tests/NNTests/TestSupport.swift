import Foundation
import XCTest
@testable import NN

enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func safetensors(_ name: String) throws -> SafeTensors {
        try SafeTensors.read(contentsOf: directory.appendingPathComponent(name))
    }
}

extension SafeTensors {
    /// The floats of a fixture tensor; fails the test when it is missing.
    func values(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Float] {
        try XCTUnwrap(self[name], "fixture has no tensor \(name)", file: file, line: line).floats()
    }
}

/// Asserts |actual - expected| <= atol + rtol * |expected| elementwise (numpy.allclose), naming the worst element.
func assertClose(_ actual: [Float], _ expected: [Float], rtol: Float, atol: Float, _ name: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(name): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var worst = (index: -1, excess: Float(0))
    for i in 0..<actual.count {
        let allowed = atol + rtol * abs(expected[i])
        let error = abs(actual[i] - expected[i])
        if !(error <= allowed), worst.index < 0 || error - allowed > worst.excess || error.isNaN {
            worst = (i, error - allowed)
        }
    }
    if worst.index >= 0 {
        let i = worst.index
        XCTFail("\(name)[\(i)]: \(actual[i]) vs expected \(expected[i]) (rtol \(rtol), atol \(atol))", file: file, line: line)
    }
}
