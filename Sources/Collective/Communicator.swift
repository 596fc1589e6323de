import Foundation

// The collective operations a data- and model-parallel training step needs, in one protocol, so that the
// step is the same code for one process (`SingleProcess`), for threads standing in for ranks in tests
// (`ThreadGroup`), and for Open MPI ranks (CollectiveMPI). Every call is collective: each rank of the world
// makes the same calls in the same order, with the same counts.

/// How `allReduce` combines the ranks' values, element by element.
public enum ReduceOperation: Sendable {
    case sum, max, min
}

/// A failed collective or a failure another rank reported.
public struct CollectiveError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public protocol Communicator: AnyObject {
    /// This process's rank, 0..<worldSize.
    var rank: Int { get }
    var worldSize: Int { get }

    /// Combines `values` of every rank element by element; every rank receives the result in place.
    func allReduce(_ values: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) throws
    func allReduce(_ values: UnsafeMutableBufferPointer<Double>, _ operation: ReduceOperation) throws
    /// Concatenates every rank's `local` (the same count on each) in rank order into `gathered`
    /// (worldSize x local.count).
    func allGather(_ local: UnsafeBufferPointer<Float>, into gathered: UnsafeMutableBufferPointer<Float>) throws
    /// Sums `blocks` (worldSize blocks of `mine.count`) over the ranks and gives rank r the sum of block r.
    func reduceScatter(_ blocks: UnsafeBufferPointer<Float>, into mine: UnsafeMutableBufferPointer<Float>) throws
    /// Starts summing `values` over the ranks in place and returns at once; `values` must stay allocated and
    /// untouched until the returned reduction is complete. Collective like the others: every rank starts
    /// the same reductions in the same order. (The default, for worlds that cannot overlap, sums at once.)
    func startAllReduce(_ values: UnsafeMutableBufferPointer<Float>) throws -> any PendingReduction
    /// Every rank's bytes (any length), in rank order.
    func allGatherBytes(_ bytes: [UInt8]) throws -> [[UInt8]]
    /// Every rank's floats (any count) concatenated in rank order at `root`; nil on the other ranks.
    func gather(_ local: [Float], root: Int) throws -> [Float]?
    /// Ends every rank of the world at once (after a failure on this one), with `code` as exit status.
    func abort(code: Int32) -> Never
}

/// A reduction started by `startAllReduce`.
public protocol PendingReduction: AnyObject {
    /// Whether it has completed; also moves it along (Open MPI advances a reduction over shared memory
    /// only inside MPI calls, so a caller with other work asks now and then).
    func isComplete() throws -> Bool
    /// Waits until it has completed.
    func wait() throws
}

/// A reduction that completed when it started.
public final class CompletedReduction: PendingReduction {
    public init() {}
    public func isComplete() throws -> Bool { true }
    public func wait() throws {}
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    public func startAllReduce(_ values: UnsafeMutableBufferPointer<Float>) throws -> any PendingReduction {
        try allReduce(values, .sum)
        return CompletedReduction()
    }

    /// `values` summed (or maxed) over the ranks.
    public func allReduce(_ values: [Float], _ operation: ReduceOperation) throws -> [Float] {
        var result = values
        try result.withUnsafeMutableBufferPointer { try allReduce($0, operation) }
        return result
    }

    public func allReduce(_ values: [Double], _ operation: ReduceOperation) throws -> [Double] {
        var result = values
        try result.withUnsafeMutableBufferPointer { try allReduce($0, operation) }
        return result
    }

    public func allGather(_ local: [Float]) throws -> [Float] {
        var gathered = [Float](repeating: 0, count: local.count * worldSize)
        try local.withUnsafeBufferPointer { local in
            try gathered.withUnsafeMutableBufferPointer { try allGather(local, into: $0) }
        }
        return gathered
    }

    /// Integers (labels) gathered in rank order; exact for |value| < 2^53.
    public func allGather(_ local: [Int]) throws -> [Int] {
        let bytes = try allGatherBytes(local.withUnsafeBytes { Array($0) })
        return bytes.flatMap { piece in
            piece.withUnsafeBytes { Array($0.bindMemory(to: Int.self)) }
        }
    }

    public func reduceScatter(_ blocks: [Float]) throws -> [Float] {
        precondition(blocks.count % worldSize == 0, "reduceScatter: \(blocks.count) values in \(worldSize) blocks")
        var mine = [Float](repeating: 0, count: blocks.count / worldSize)
        try blocks.withUnsafeBufferPointer { blocks in
            try mine.withUnsafeMutableBufferPointer { try reduceScatter(blocks, into: $0) }
        }
        return mine
    }

    /// Runs `body` on every rank and agrees on the outcome: its result where every rank succeeded; else,
    /// on every rank, a `CollectiveError` naming each rank that failed and its message. A set-up error on one
    /// rank (an unreadable file) thus ends all ranks with one clear message, and no rank waits forever in a
    /// collective the failed one never reaches. `body` must make no collective calls itself.
    public func agreeing<T>(_ body: () throws -> T) throws -> T {
        guard worldSize > 1 else { return try body() }   // the error itself, with its type
        var message = ""
        var result: T?
        do { result = try body() } catch { message = "\(error)" }
        let messages = try allGatherBytes(Array(message.utf8)).map { String(decoding: $0, as: UTF8.self) }
        let failures = messages.enumerated().filter { !$0.element.isEmpty }
        guard failures.isEmpty, let result else {
            if failures.count == worldSize && Set(messages).count == 1 { throw AgreedFailure(messages[0]) }   // on every rank
            throw AgreedFailure(failures.map { "rank \($0.offset): \($0.element)" }.joined(separator: "\n"))
        }
        return result
    }
}

/// A failure every rank knows of (from `agreeing`): each rank stops on its own, and one (rank 0) reports it.
public struct AgreedFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A world of one: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public func allReduce(_ values: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) throws {}
    public func allReduce(_ values: UnsafeMutableBufferPointer<Double>, _ operation: ReduceOperation) throws {}
    public func allGather(_ local: UnsafeBufferPointer<Float>, into gathered: UnsafeMutableBufferPointer<Float>) throws {
        _ = gathered.update(fromContentsOf: local)
    }
    public func reduceScatter(_ blocks: UnsafeBufferPointer<Float>, into mine: UnsafeMutableBufferPointer<Float>) throws {
        _ = mine.update(fromContentsOf: blocks)
    }
    public func allGatherBytes(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
    public func gather(_ local: [Float], root: Int) throws -> [Float]? { local }
    public func abort(code: Int32) -> Never { exit(code) }
}
