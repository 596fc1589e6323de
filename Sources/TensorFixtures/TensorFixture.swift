// Test support shared by EngineTests and NNTests (not part of the product): the JSON fixtures that the
// reference scripts under scripts/reference/ write, and numpy.isclose-style comparisons.
import Engine
import Foundation
import XCTest

/// One fixture `<test folder>/Fixtures/<name>.json`: named tensors (shape + float32 values, PyTorch's
/// contiguous order) and scalar parameters, as written by the reference scripts.
public struct Fixture {
    public struct Entry: Decodable {
        public let shape: [Int]
        public let values: [Float]
    }

    private struct File: Decodable {
        let tensors: [String: Entry]
    }

    public let name: String
    public let entries: [String: Entry]
    public let params: [String: Any]

    /// Reads `Fixtures/<name>.json` beside the calling test file.
    public init(_ name: String, callerFile: String = #filePath) throws {
        let url = URL(fileURLWithPath: callerFile).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/\(name).json")
        let data = try Data(contentsOf: url)
        entries = try JSONDecoder().decode(File.self, from: data).tensors
        params = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["params"] as? [String: Any] ?? [:]
        self.name = name
    }

    public func entry(_ key: String) -> Entry {
        guard let entry = entries[key] else { fatalError("fixture \(name) has no tensor \(key)") }
        return entry
    }

    /// A plain tensor with the fixture's values.
    public func tensor(_ key: String, requiresGrad: Bool = false) -> Tensor {
        let entry = entry(key)
        return Tensor(shape: entry.shape, values: entry.values, requiresGrad: requiresGrad)
    }

    public func values(_ key: String) -> [Float] { entry(key).values }
    public func shape(_ key: String) -> [Int] { entry(key).shape }
    public func has(_ key: String) -> Bool { entries[key] != nil }
    /// An integer parameter, or `missing` when the fixture has none.
    public func int(_ key: String, missing: Int = 0) -> Int { (params[key] as? NSNumber)?.intValue ?? missing }
    public func ints(_ key: String) -> [Int] { (params[key] as? [NSNumber])?.map(\.intValue) ?? [] }
}

/// Asserts |actual - expected| <= atol + rtol * |expected| elementwise (numpy.isclose's rule), naming the
/// worst element. TENSOR_FIXTURES_PRINT_ERRORS=1 prints each comparison's largest error.
public func assertClose(_ actual: [Float], _ expected: [Float], rtol: Float, atol: Float, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(what): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var worst = -1, worstExcess: Float = 0
    for i in 0..<actual.count {
        let excess = abs(actual[i] - expected[i]) - (atol + rtol * abs(expected[i]))
        if !(excess <= 0), excess.isNaN || excess > worstExcess || worst < 0 {
            worst = i
            worstExcess = excess.isNaN ? .infinity : excess
        }
    }
    if ProcessInfo.processInfo.environment["TENSOR_FIXTURES_PRINT_ERRORS"] != nil {
        let maxError = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
        let maxMagnitude = expected.map { abs($0) }.max() ?? 0
        print("\(what): max |error| \(maxError), max |expected| \(maxMagnitude)")
    }
    if worst >= 0 {
        XCTFail("\(what): element \(worst) is \(actual[worst]), expected \(expected[worst]) (rtol \(rtol), atol \(atol))",
                file: file, line: line)
    }
}

/// Runs a program (a reference script, say) and returns its exit status and its output and errors together.
public func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The interop tests' Python: /usr/bin/python3 with torch and numpy (`make test` installs Debian's). Without
/// it a test is skipped on a developer's machine, but under CI (`CI=true`, which .ci/run sets) a missing
/// reference is a failure: an interop claim CI never checks is not a claim.
public func requirePyTorch(_ purpose: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    try requirePython("/usr/bin/python3", modules: ["torch", "numpy"], install: "apt-get install python3-torch",
                      purpose, file: file, line: line)
}

/// The project's own checkout, found from this file's place in it (Sources/TensorFixtures/).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

/// The Python of .venv-interop/ (made by `make test` from scripts/interop/requirements.txt) with `modules`
/// (onnx, onnxruntime, tensorboard); skipped or, under CI, failed as `requirePyTorch` is.
public func requireInteropPython(_ purpose: String, modules: [String], file: StaticString = #filePath,
                                 line: UInt = #line) throws -> String {
    let python = repositoryRoot.appendingPathComponent(".venv-interop/bin/python").path
    return try requirePython(python, modules: modules, install: "make interop-deps", purpose, file: file, line: line)
}

private func requirePython(_ python: String, modules: [String], install: String, _ purpose: String,
                           file: StaticString, line: UInt) throws -> String {
    var problem: String?
    if !FileManager.default.isExecutableFile(atPath: python) {
        problem = "\(python) is missing (\(install)): cannot check that \(purpose)"
    } else {
        let probe = try runProcess(python, ["-c", "import " + modules.joined(separator: ", ")])
        if probe.status != 0 {
            problem = "\(python) lacks one of \(modules.joined(separator: ", ")) (\(install)), so cannot check that \(purpose): \(probe.output)"
        }
    }
    guard let problem else { return python }
    if ProcessInfo.processInfo.environment["CI"] == "true" {
        XCTFail("under CI no test may skip: " + problem, file: file, line: line)
        throw XCTSkip("failed above")
    }
    throw XCTSkip(problem)
}
