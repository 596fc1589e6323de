import Foundation
import XCTest

/// The README's Python example, run as written against the built binary.
final class ReadmeExampleTests: XCTestCase {
    func testPythonPipeExampleGetsOneLearningRatePerLoss() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../README.md").standardized
        let text = try String(contentsOf: readme, encoding: .utf8)
        let start = try XCTUnwrap(text.range(of: "```python\n"), "README.md has no Python example")
        let end = try XCTUnwrap(text.range(of: "```", range: start.upperBound ..< text.endIndex))
        // With window 4000, three losses cannot trigger a decay: each answer is the base LR, 0.02.
        let program = String(text[start.upperBound ..< end.lowerBound])
            + "print([next_lr(x) for x in [3.0, 2.5, float('nan')]])\n"

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", program]
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = CLI.binary.deletingLastPathComponent().path + ":" + (environment["PATH"] ?? "/usr/bin")
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), "[0.02, 0.02, 0.02]\n")
    }
}
