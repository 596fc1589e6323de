import Foundation

/// Ranks as threads of one process, for tests of sharded computations without launching processes: each
/// of `worldSize` threads gets its own `Communicator`, and every collective waits until all of them made
/// the call. Sums add the ranks' values in rank order (as a two-rank MPI reduction does).
public final class ThreadGroup: @unchecked Sendable {
    public let worldSize: Int
    private let condition = NSCondition()
    private var contributions: [Int: Any] = [:]
    private var generation = 0
    private var result: Any?
    private var arrived = 0

    public init(worldSize: Int) {
        precondition(worldSize > 0)
        self.worldSize = worldSize
    }

    /// Runs `body(communicator)` on one thread per rank and returns the ranks' results in rank order;
    /// rethrows the first rank's error.
    public func run<T>(_ body: @escaping @Sendable (any Communicator) throws -> T) throws -> [T] {
        let results = Results<T>(count: worldSize)
        let group = DispatchGroup()
        for rank in 0..<worldSize {
            let thread = Thread { [self] in
                results.set(rank, Result { try body(Member(group: self, rank: rank)) })
                group.leave()
            }
            thread.stackSize = 8 << 20
            group.enter()
            thread.start()
        }
        group.wait()
        return try results.values.map { try $0!.get() }
    }

    /// The collective core: every rank hands in its contribution; the last one combines them; all return
    /// the combination.
    fileprivate func exchange(rank: Int, _ contribution: Any, combine: ([Any]) -> Any) -> Any {
        condition.lock()
        defer { condition.unlock() }
        let myGeneration = generation
        contributions[rank] = contribution
        arrived += 1
        if arrived == worldSize {
            result = combine((0..<worldSize).map { contributions[$0]! })
            contributions = [:]
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == myGeneration { condition.wait() }
        }
        return result!
    }

    private final class Results<T>: @unchecked Sendable {
        private let lock = NSLock()
        var values: [Result<T, Error>?]
        init(count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: Result<T, Error>) { lock.lock(); values[index] = value; lock.unlock() }
    }

    private final class Member: Communicator {
        let group: ThreadGroup
        let rank: Int
        var worldSize: Int { group.worldSize }
        init(group: ThreadGroup, rank: Int) { self.group = group; self.rank = rank }

        private func reduce<Element: FloatingPoint>(_ values: UnsafeMutableBufferPointer<Element>, _ operation: ReduceOperation) {
            let combined = group.exchange(rank: rank, Array(values)) { parts in
                let parts = parts as! [[Element]]
                return (0..<parts[0].count).map { index in
                    parts.dropFirst().reduce(parts[0][index]) { total, part in
                        switch operation {
                        case .sum: return total + part[index]
                        case .max: return Swift.max(total, part[index])
                        case .min: return Swift.min(total, part[index])
                        }
                    }
                }
            } as! [Element]
            _ = values.update(fromContentsOf: combined)
        }

        func allReduce(_ values: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) throws { reduce(values, operation) }
        func allReduce(_ values: UnsafeMutableBufferPointer<Double>, _ operation: ReduceOperation) throws { reduce(values, operation) }

        func allGather(_ local: UnsafeBufferPointer<Float>, into gathered: UnsafeMutableBufferPointer<Float>) throws {
            let all = group.exchange(rank: rank, Array(local)) { ($0 as! [[Float]]).flatMap { $0 } } as! [Float]
            _ = gathered.update(fromContentsOf: all)
        }

        func reduceScatter(_ blocks: UnsafeBufferPointer<Float>, into mine: UnsafeMutableBufferPointer<Float>) throws {
            var sums = Array(blocks)
            sums.withUnsafeMutableBufferPointer { reduce($0, .sum) }
            _ = mine.update(fromContentsOf: sums[(rank * mine.count)..<((rank + 1) * mine.count)])
        }

        func allGatherBytes(_ bytes: [UInt8]) throws -> [[UInt8]] {
            group.exchange(rank: rank, bytes) { $0 as! [[UInt8]] } as! [[UInt8]]
        }

        func gather(_ local: [Float], root: Int) throws -> [Float]? {
            let all = group.exchange(rank: rank, local) { ($0 as! [[Float]]).flatMap { $0 } } as! [Float]
            return rank == root ? all : nil
        }

        func abort(code: Int32) -> Never { fatalError("rank \(rank) aborted the thread group with code \(code)") }
    }
}
