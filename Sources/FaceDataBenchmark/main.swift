// Parsing a RecordIO .idx of WebFace12M's size (issue #14: 12 million records in under 5 s).
// Run: swift run -c release FaceDataBenchmark [records] [repetitions]
//
// Data: an .idx written here in im2rec's layout ("key<TAB>offset", keys 0..<records, offsets 64 apart, 12 million
// lines by default, about 200 MB) and a sparse .rec of the size the offsets need (no disk blocks), both in the
// temporary folder and removed afterwards. Each repetition parses the whole index as opening a set does
// (`RecordIOSource.readIndex`, every line checked); the median wall time is reported, with the process's peak
// resident memory over the parses (getrusage), against what it was before the first parse, per record.
import FaceData
import Foundation

let records = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 12_000_000 : 12_000_000
let repetitions = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 3 : 3
let spacing: UInt64 = 64

let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("haarface-idx-bench-\(getpid())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: folder) }
let indexURL = folder.appendingPathComponent("train.idx"), recordURL = folder.appendingPathComponent("train.rec")

// Written in pieces, so that the benchmark's own memory stays small beside the parse's.
guard FileManager.default.createFile(atPath: indexURL.path, contents: nil), let writer = FileHandle(forWritingAtPath: indexURL.path) else {
    fatalError("cannot write \(indexURL.path)")
}
var indexBytes = 0
for start in stride(from: 0, to: records, by: 100_000) {
    var piece = [UInt8]()
    for key in start..<min(records, start + 100_000) { piece.append(contentsOf: "\(key)\t\(UInt64(key) * spacing)\n".utf8) }
    writer.write(Data(piece))
    indexBytes += piece.count
}
writer.closeFile()
let recordSize = UInt64(records) * spacing
guard FileManager.default.createFile(atPath: recordURL.path, contents: nil), truncate(recordURL.path, off_t(recordSize)) == 0 else {
    fatalError("cannot make the sparse \(recordURL.path)")
}

func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

let before = peakResidentBytes()
var seconds: [Double] = []
for _ in 0..<repetitions {
    let start = Date()
    let index = try RecordIOSource.readIndex(indexURL, recordSize: recordSize, recordPath: recordURL.path)
    seconds.append(Date().timeIntervalSince(start))
    precondition(index.count == records && index[records - 1] == UInt64(records - 1) * spacing, "wrong index")
}
let median = seconds.sorted()[seconds.count / 2]
let bytesPerRecord = Double(peakResidentBytes() - before) / Double(records)
print(String(format: "idx parse: %d records (%.0f MB): median %.2f s over %d (%@), peak memory +%.0f bytes per record",
             records, Double(indexBytes) / 1e6, median, repetitions,
             seconds.map { String(format: "%.2f", $0) }.joined(separator: ", "), bytesPerRecord))
