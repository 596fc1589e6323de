import Foundation
import XCTest

/// The reliability drills (scripts/drills/drills.py; `make drills` runs their full versions) in their quick
/// versions, against the binary under test: each case runs one drill, which checks what must hold and exits 1
/// at the first thing that did not, saying what; its account is the failure message.
final class DrillTests: XCTestCase {
    private let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/drills/drills.py")
    /// One work folder for the four, so that they share the data and the uninterrupted reference run.
    private static let work = FileManager.default.temporaryDirectory.appendingPathComponent("drills-\(UUID().uuidString)")

    override class func tearDown() {
        try? FileManager.default.removeItem(at: work)
    }

    private func runDrill(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script.path, "--quick", "--binary", CLI.binary.path, "--work", Self.work.path, name]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text, file: file, line: line)
        XCTAssertTrue(text.contains("all drills held (\(name))"), text, file: file, line: line)
    }

    /// SIGKILL at a step read from training.log's progress, inside a checkpoint's write and between its renames
    /// (fault points); the resumed run's weights, losses and MHLR state equal an uninterrupted run's.
    func testKillDrill() throws { try runDrill("kill") }

    /// ENOSPC injected into a checkpoint file, a training.log line and a metrics.csv flush: a clear stop, the
    /// previous checkpoint intact, whole lines in the logs, and a resumed run equal to an uninterrupted one.
    func testDiskFullDrill() throws { try runDrill("disk-full") }

    /// Every checkpoint file truncated and with a flipped byte is refused by name, the folder unchanged; a
    /// checkpoint without a manifest resumes with a note.
    func testCorruptCheckpointDrill() throws { try runDrill("corrupt") }

    /// A NaN pixel with --skip-nonfinite: the run finishes, counts it, and no weight or statistic is NaN.
    func testNonFiniteDrill() throws { try runDrill("nan") }
}
