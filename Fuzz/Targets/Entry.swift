// The libFuzzer driver of every reader of untrusted bytes. Built only by Fuzz/run.sh (HAARFACE_FUZZ=1 adds
// this target, with the project's own modules instrumented for coverage and AddressSanitizer); FUZZ_TARGET
// names the reader (Sources/FuzzTargets). libFuzzer's own main is not used: ours picks the target first and then
// hands the command line to libFuzzer's driver, so every libFuzzer flag works as usual.
import Foundation
import FuzzTargets

@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// The target, chosen once before libFuzzer starts (a C callback cannot capture it).
private nonisolated(unsafe) var selected: FuzzTarget!

@main
enum FuzzMain {
    static func main() {
        let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            let known = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            FileHandle.standardError.write(Data("haarface-fuzz: set FUZZ_TARGET to one of \(known) (found \"\(name)\")\n".utf8))
            exit(2)
        }
        selected = target
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv) { bytes, count in
            try? selected.run(bytes.map { Data(bytes: $0, count: count) } ?? Data())   // a refusal is a correct answer
            return 0
        })
    }
}
