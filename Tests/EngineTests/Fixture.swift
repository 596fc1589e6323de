import Foundation
import XCTest
@testable import Engine

/// One fixture written by scripts/reference/engine_fixtures.py (PyTorch 1.13, reference values computed
/// in float64 from float32 inputs).
struct Fixture {
    struct Entry: Decodable {
        let shape: [Int]
        let values: [Float]
    }

    private struct File: Decodable {
        let tensors: [String: Entry]
    }

    let name: String
    let entries: [String: Entry]
    let params: [String: Any]

    init(_ name: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/\(name).json")
        let data = try Data(contentsOf: url)
        entries = try JSONDecoder().decode(File.self, from: data).tensors
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        params = object?["params"] as? [String: Any] ?? [:]
        self.name = name
    }

    func entry(_ key: String) -> Entry {
        guard let entry = entries[key] else { fatalError("fixture \(name) has no tensor \(key)") }
        return entry
    }

    /// A plain tensor with the fixture's values.
    func tensor(_ key: String, requiresGrad: Bool = false) -> Tensor {
        let entry = entry(key)
        return Tensor(shape: entry.shape, values: entry.values, requiresGrad: requiresGrad)
    }

    func values(_ key: String) -> [Float] { entry(key).values }
    func shape(_ key: String) -> [Int] { entry(key).shape }
    func has(_ key: String) -> Bool { entries[key] != nil }
    func int(_ key: String) -> Int { (params[key] as? NSNumber)?.intValue ?? 0 }
}

/// Asserts |actual - expected| <= atol + rtol * |expected| elementwise (numpy.isclose's rule).
func assertClose(_ actual: [Float], _ expected: [Float], rtol: Float, atol: Float, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(what): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var worst = 0, worstExcess: Float = 0
    for i in 0..<actual.count {
        let excess = abs(actual[i] - expected[i]) - (atol + rtol * abs(expected[i]))
        if !(excess <= 0) && (excess > worstExcess || excess.isNaN || worstExcess == 0) {
            worst = i
            worstExcess = excess.isNaN ? .infinity : excess
        }
    }
    if ProcessInfo.processInfo.environment["ENGINE_PRINT_ERRORS"] != nil {
        let maxError = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
        let maxMagnitude = expected.map { abs($0) }.max() ?? 0
        print("\(what): max |error| \(maxError), max |expected| \(maxMagnitude)")
    }
    if worstExcess > 0 {
        XCTFail("\(what): element \(worst) is \(actual[worst]), expected \(expected[worst]) (rtol \(rtol), atol \(atol))",
                file: file, line: line)
    }
}

/// Drives a backward pass with the fixture's upstream gradient: loss = sum(output * grad_output).
func backward(_ output: Tensor, _ fixture: Fixture) throws {
    try output.backward(gradient: fixture.tensor("grad_output"))
}
