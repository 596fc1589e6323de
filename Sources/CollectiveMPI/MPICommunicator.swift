// Open MPI ranks as a `Communicator`: MPI_COMM_WORLD with errors returned (not fatal), so a failed
// collective becomes a Swift error naming the operation. Calls come from one thread (the trainer's);
// the loader's threads never call MPI (MPI_THREAD_FUNNELED).
import CMPI
import Collective
import Foundation

public final class MPICommunicator: Communicator {
    public let rank: Int
    public let worldSize: Int
    private let world: MPI_Comm

    /// Whether this process was started by mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE, PMIx PMIX_RANK):
    /// a plain `haarface train` never initialises MPI.
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    /// Initialises MPI (once per process).
    public init() throws {
        var provided: Int32 = 0
        var initialised: Int32 = 0
        MPI_Initialized(&initialised)
        if initialised == 0 {
            try Self.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        }
        world = haarface_mpi_comm_world()
        MPI_Comm_set_errhandler(world, haarface_mpi_errors_return())
        var rank: Int32 = 0, size: Int32 = 0
        try Self.check(MPI_Comm_rank(world, &rank), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(world, &size), "MPI_Comm_size")
        self.rank = Int(rank)
        worldSize = Int(size)
    }

    /// Ends MPI for this process; every rank calls it once, after its last collective.
    public func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    public func abort(code: Int32) -> Never {
        MPI_Abort(world, code)
        exit(code)
    }

    public func allReduce(_ values: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) throws {
        try Self.check(MPI_Allreduce(haarface_mpi_in_place(), values.baseAddress, try Self.count(values.count),
                                     haarface_mpi_float(), Self.op(operation), world), "MPI_Allreduce")
    }

    public func allReduce(_ values: UnsafeMutableBufferPointer<Double>, _ operation: ReduceOperation) throws {
        try Self.check(MPI_Allreduce(haarface_mpi_in_place(), values.baseAddress, try Self.count(values.count),
                                     haarface_mpi_double(), Self.op(operation), world), "MPI_Allreduce")
    }

    public func startAllReduce(_ values: UnsafeMutableBufferPointer<Float>) throws -> any PendingReduction {
        let pending = Request()
        try Self.check(MPI_Iallreduce(haarface_mpi_in_place(), values.baseAddress, try Self.count(values.count),
                                      haarface_mpi_float(), haarface_mpi_sum(), world, &pending.request), "MPI_Iallreduce")
        return pending
    }

    /// An MPI request; MPI sets it to MPI_REQUEST_NULL once it has completed.
    private final class Request: PendingReduction {
        var request: MPI_Request? = haarface_mpi_request_null()
        private var done = false

        func isComplete() throws -> Bool {
            guard !done else { return true }
            var flag: Int32 = 0
            try MPICommunicator.check(haarface_mpi_test(&request, &flag), "MPI_Test")
            done = flag != 0
            return done
        }

        func wait() throws {
            guard !done else { return }
            try MPICommunicator.check(haarface_mpi_wait(&request), "MPI_Wait")
            done = true
        }
    }

    public func allGather(_ local: UnsafeBufferPointer<Float>, into gathered: UnsafeMutableBufferPointer<Float>) throws {
        precondition(gathered.count == local.count * worldSize, "allGather: \(gathered.count) != \(local.count) x \(worldSize)")
        let count = try Self.count(local.count)
        try Self.check(MPI_Allgather(local.baseAddress, count, haarface_mpi_float(),
                                     gathered.baseAddress, count, haarface_mpi_float(), world), "MPI_Allgather")
    }

    public func reduceScatter(_ blocks: UnsafeBufferPointer<Float>, into mine: UnsafeMutableBufferPointer<Float>) throws {
        precondition(blocks.count == mine.count * worldSize, "reduceScatter: \(blocks.count) != \(mine.count) x \(worldSize)")
        try Self.check(MPI_Reduce_scatter_block(blocks.baseAddress, mine.baseAddress, try Self.count(mine.count),
                                                haarface_mpi_float(), haarface_mpi_sum(), world), "MPI_Reduce_scatter_block")
    }

    public func allGatherBytes(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var sizes = [Int64](repeating: 0, count: worldSize)
        var mySize = Int64(bytes.count)
        try Self.check(MPI_Allgather(&mySize, 1, haarface_mpi_int64(), &sizes, 1, haarface_mpi_int64(), world), "MPI_Allgather")
        let counts = try sizes.map { try Self.count(Int($0)) }
        let offsets = try Self.offsets(counts)
        var all = [UInt8](repeating: 0, count: counts.reduce(0) { $0 + Int($1) })
        try bytes.withUnsafeBufferPointer { mine in
            try all.withUnsafeMutableBufferPointer { all in
                try Self.check(MPI_Allgatherv(mine.baseAddress, counts[rank], haarface_mpi_byte(), all.baseAddress,
                                              counts, offsets, haarface_mpi_byte(), world), "MPI_Allgatherv")
            }
        }
        return (0..<worldSize).map { Array(all[Int(offsets[$0])..<(Int(offsets[$0]) + Int(counts[$0]))]) }
    }

    public func gather(_ local: [Float], root: Int) throws -> [Float]? {
        var sizes = [Int64](repeating: 0, count: worldSize)
        var mySize = Int64(local.count)
        try Self.check(MPI_Gather(&mySize, 1, haarface_mpi_int64(), &sizes, 1, haarface_mpi_int64(), Int32(root), world),
                       "MPI_Gather")
        let counts = rank == root ? try sizes.map { try Self.count(Int($0)) } : []
        let offsets = try Self.offsets(counts)
        var all = [Float](repeating: 0, count: rank == root ? counts.reduce(0) { $0 + Int($1) } : 0)
        try local.withUnsafeBufferPointer { mine in
            try all.withUnsafeMutableBufferPointer { all in
                try Self.check(MPI_Gatherv(mine.baseAddress, try Self.count(mine.count), haarface_mpi_float(), all.baseAddress,
                                           counts, offsets, haarface_mpi_float(), Int32(root), world), "MPI_Gatherv")
            }
        }
        return rank == root ? all : nil
    }

    private static func op(_ operation: ReduceOperation) -> MPI_Op {
        switch operation {
        case .sum: return haarface_mpi_sum()
        case .max: return haarface_mpi_max()
        case .min: return haarface_mpi_min()
        }
    }

    /// MPI counts are 32-bit.
    private static func count(_ count: Int) throws -> Int32 {
        guard let count = Int32(exactly: count) else {
            throw CollectiveError("a message of \(count) elements exceeds MPI's 32-bit counts")
        }
        return count
    }

    private static func offsets(_ counts: [Int32]) throws -> [Int32] {
        var offsets: [Int32] = []
        var total = 0
        for count in counts {
            offsets.append(try Self.count(total))
            total += Int(count)
        }
        return offsets
    }

    fileprivate static func check(_ code: Int32, _ operation: String) throws {
        guard code != MPI_SUCCESS else { return }
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING))
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        throw CollectiveError("\(operation) failed: \(String(cString: text))")
    }
}
