import Foundation
import XCTest
@testable import FaceData

/// The window that serves records' first bytes while a set opens: every answer equals a direct read of the
/// file, across refills, backwards, and cut short at the end of the file.
final class RecordHeadsTests: XCTestCase {
    func testEveryAnswerEqualsTheFileBytes() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("heads-\(UUID().uuidString).bin")
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try PositionalFile(path: url.path)
        for window in [36, 100, 4096] {
            var heads = RecordHeads(file, window: window)
            for offset in [0, 30, 64, 99, 100, 990, 5, 960, 999] as [UInt64] {
                let expected = Array(bytes[Int(offset)..<min(1000, Int(offset) + 36)])
                XCTAssertEqual([UInt8](try heads.bytes(at: offset, count: 36)), expected, "window \(window), offset \(offset)")
            }
        }
    }
}
