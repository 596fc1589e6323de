// libFuzzer entry point for the FaceData readers that parse untrusted bytes. Compiled together with
// Sources/FaceData by Fuzz/run.sh; FUZZ_TARGET selects the reader:
//   recordio  input = .idx text, a NUL byte, then .rec bytes; opens the pair and reads every image
//   pickle    input = a verification .bin pickle
//   npy       input = an .npy file
//   torchpickle  input = the data.pkl of a torch.save zip archive (a state_dict's restricted pickle)
//   torchlegacy  input = a legacy (pre-1.6) torch.save file
// Any thrown error is an expected outcome; a crash, trap, hang or sanitizer report is a bug.
import Foundation

private enum Target: String { case recordio, pickle, npy, torchpickle, torchlegacy }

private let target: Target = {
    let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
    guard let target = Target(rawValue: name) else {
        fatalError("set FUZZ_TARGET to recordio, pickle, npy, torchpickle or torchlegacy (found \"\(name)\")")
    }
    return target
}()

// In memory (tmpfs) so that each run costs microseconds, not a disk write.
private let scratch = URL(fileURLWithPath: FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
    .appendingPathComponent("haarface-fuzz-\(ProcessInfo.processInfo.processIdentifier)")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    switch target {
    case .pickle:
        _ = try? VerificationBin.decode(data, name: "fuzz", file: "fuzz.bin")
    case .npy:
        _ = try? NPY.decode(data, file: "fuzz.npy")
    case .torchpickle:
        _ = try? TorchStateDict.records(pickle: data, file: "fuzz.pkl")
    case .torchlegacy:
        _ = try? TorchStateDict.legacy(data, file: "fuzz.pth")
    case .recordio:
        let split = data.firstIndex(of: 0) ?? data.endIndex
        let record = scratch.appendingPathExtension("rec"), index = scratch.appendingPathExtension("idx")
        try? data[split...].dropFirst().write(to: record)
        try? data[..<split].write(to: index)
        if let source = try? RecordIOSource(recordURL: record, indexURL: index) {
            for image in 0..<min(source.count, 64) {
                _ = try? source.label(at: image)
                _ = try? source.encodedImage(at: image)
            }
        }
    }
    return 0
}
