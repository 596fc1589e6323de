import XCTest
@testable import MHLR

/// A run encoded after N steps, decoded and continued equals the uninterrupted run, bit for bit.
final class CodableResumeTests: XCTestCase {
    let losses = plateauLosses(5000)

    func roundTrip<T: Codable>(_ value: T) throws -> T {
        try JSONDecoder().decode(T.self, from: JSONEncoder().encode(value))
    }

    func assertResumes<S: LearningRateScheduler & Equatable>(
        _ scheduler: S, splitAt split: Int, _ name: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        var whole = ScheduleRecorder(scheduler)
        var wholeLRs: [Double] = []
        for loss in losses { wholeLRs.append(whole.step(loss: loss)) }

        var first = ScheduleRecorder(scheduler)
        var resumedLRs: [Double] = []
        for loss in losses[..<split] { resumedLRs.append(first.step(loss: loss)) }
        // The recorder (and with it the scheduler) goes through JSON, and so does the bare scheduler.
        var second = try roundTrip(first)
        XCTAssertEqual(second, first, "\(name): state changed by JSON", file: file, line: line)
        var bare = try roundTrip(first.scheduler)
        for loss in losses[split...] {
            resumedLRs.append(second.step(loss: loss))
            _ = bare.step(loss: loss)
        }
        // Bit-identical: compare the bit patterns, not with a tolerance.
        XCTAssertEqual(resumedLRs.map(\.bitPattern), wholeLRs.map(\.bitPattern), name, file: file, line: line)
        XCTAssertEqual(second.events, whole.events, name, file: file, line: line)
        XCTAssertEqual(second, whole, name, file: file, line: line)
        XCTAssertEqual(bare, whole.scheduler, name, file: file, line: line)
        XCTAssertFalse(whole.events.isEmpty, "\(name) never changed its LR", file: file, line: line)
    }

    func testEverySchedulerResumes() throws {
        for (name, scheduler) in try everyScheduler() where name != "constant" {
            // Split inside the first window, at a wrapped ring buffer and late in the run.
            for split in [17, 1234, 4321] {
                try assertResumes(scheduler, splitAt: split, "AnyScheduler \(name) split \(split)")
                switch scheduler {
                case .mhlr(let s): try assertResumes(s, splitAt: split, "\(name) split \(split)")
                case .fastFace(let s): try assertResumes(s, splitAt: split, "\(name) split \(split)")
                case .polynomial(let s): try assertResumes(s, splitAt: split, "\(name) split \(split)")
                case .multiStep(let s): try assertResumes(s, splitAt: split, "\(name) split \(split)")
                case .cosine(let s): try assertResumes(s, splitAt: split, "\(name) split \(split)")
                case .plateau(let s): try assertResumes(s, splitAt: split, "\(name) split \(split)")
                case .wsd(let s): try assertResumes(s, splitAt: split, "\(name) split \(split)")
                case .constant: break
                }
            }
        }
    }

    func testConstantResumes() throws {
        var scheduler = try ConstantLR(baseLR: 0.3)
        _ = scheduler.step(loss: .nan)
        let decoded = try roundTrip(scheduler)
        XCTAssertEqual(decoded, scheduler)
        XCTAssertEqual(decoded.nonFiniteLosses, 1)
    }
}
