import Foundation
import XCTest

/// Runs the built `haarface` binary, as a user would, and captures what it prints.
struct CLIRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum CLI {
    /// The products folder: on Linux the test bundle's own folder, where SwiftPM also puts `haarface`.
    static var binary: URL {
        Bundle.main.bundleURL.appendingPathComponent("haarface")
    }

    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                    directory: URL? = nil, launcher: String? = nil) throws -> CLIRun {
        let process = Process()
        process.executableURL = launcher.map(URL.init(fileURLWithPath:)) ?? binary
        if let directory { process.currentDirectoryURL = directory }
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read before waiting so that a large output cannot fill the pipe and block the child.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CLIRun(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}

final class VersionTests: XCTestCase {
    func testVersionAndHelp() throws {
        let version = try CLI.run(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertEqual(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
        let help = try CLI.run(["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("USAGE: haarface"), help.stdout)
        let bad = try CLI.run(["--no-such-flag"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("no-such-flag"), bad.stderr)
    }
}

/// Open MPI's launcher, as a user starts a run across ranks: `mpirun -np N <program> ...`. Under CI the tests
/// run as root, which Open MPI refuses unless told; --oversubscribe lets more ranks than cores start.
enum MPI {
    static let launcher = "/usr/bin/mpirun"
    static let options = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]

    /// `mpirun -np ranks <bundle>/<program> arguments`.
    static func run(ranks: Int, program: String = "haarface", _ arguments: [String],
                    environment: [String: String] = [:]) throws -> CLIRun {
        let binary = Bundle.main.bundleURL.appendingPathComponent(program).path
        return try CLI.run(options + ["-np", "\(ranks)", binary] + arguments, environment: environment, launcher: launcher)
    }

    /// One rank per element of `ranks`, each with its own working folder and arguments (mpirun's MPMD form:
    /// `mpirun -np 1 -wdir A prog args : -np 1 -wdir B prog args`).
    static func run(ranks: [(directory: URL, arguments: [String])]) throws -> CLIRun {
        let binary = CLI.binary.path
        let contexts = ranks.map { ["-np", "1", "-wdir", $0.directory.path, binary] + $0.arguments }
        return try CLI.run(options + Array(contexts.joined(separator: [":"])), launcher: launcher)
    }
}
