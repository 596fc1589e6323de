import Foundation
import XCTest
import Engine
import TensorFixtures
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

/// The closed-form test data of scripts/reference/nn_fixtures.py (formula_uniform, formula_images).
enum Formula {
    /// nn_fixtures.py's formula_uniform: `count` values in [-1, 1) from an integer hash of (index, stream).
    static func uniform(_ count: Int, stream: Int) -> [Double] {
        let offset = UInt32(truncatingIfNeeded: UInt64(stream + 1) &* 2246822519)
        return (0..<count).map { index in
            var h = UInt32(truncatingIfNeeded: index) &* 2654435761 &+ offset
            h ^= h >> 15
            h = h &* 2246822519
            h ^= h >> 13
            h = h &* 3266489917
            h ^= h >> 16
            return Double(h) / 2147483648.0 - 1
        }
    }

    /// nn_fixtures.py's formula_images: formulaUniform(count, 100000) as NCHW images.
    static func images(batch: Int, size: Int) -> Tensor {
        Tensor(shape: [batch, 3, size, size],
               values: uniform(batch * 3 * size * size, stream: 100000).map { Float($0) })
    }
}
