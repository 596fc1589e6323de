import Collective
import Engine

/// DDP's gradient allreduce: replaces the gradient of every parameter by its mean over the ranks of
/// `communicator`, all at once (after backward). Nothing to do in a world of one. See `GradientAverage`.
public func averageGradients(of parameters: [Parameter], over communicator: any Communicator,
                             bucketFloats: Int = GradientAverage.defaultBucketFloats) throws {
    guard communicator.worldSize > 1 else { return }
    try GradientAverage(of: parameters, over: communicator, bucketFloats: bucketFloats).finish()
}

/// DDP's gradient allreduce, overlapped with backward: the parameters are packed into buckets of at most
/// `bucketFloats` floats (DDP's 25 MB) in reverse order, the order in which backward completes their
/// gradients, and each bucket's sum over the ranks starts as soon as backward has finished with all of its
/// parameters (pass the average as `backward(observer:)`), while backward goes on with the layers below.
/// `finish()` starts what is left, waits, and replaces every gradient by the mean.
///
/// Every rank starts the buckets in the same order (bucket k only after buckets 0..<k), which a collective
/// needs, whatever order its own backward completes them in. Each gradient is packed in the memory layout
/// the engine keeps it in (the same on every rank), so the sums are element by element. A parameter
/// without a gradient on this rank (unused in its forward pass) contributes zeros and is left without one.
/// Made once and used for every update: the buckets' buffers are kept.
public final class GradientAverage: BackwardObserver {
    public static let defaultBucketFloats = 25 << 18   // 25 MiB of float32

    private struct Bucket {
        var members: [Parameter]
        var buffer: UnsafeMutableBufferPointer<Float>
        var finalMembers = 0
    }

    private let communicator: any Communicator
    private var buckets: [Bucket] = []
    private let bucketOfParameter: [ObjectIdentifier: Int]
    /// Buckets 0..<started have been started (this update).
    private var started = 0
    private var pending: [(bucket: Int, reduction: any PendingReduction)] = []
    /// How many buckets of the last update started before `finish()` (while backward ran).
    public private(set) var bucketsStartedDuringBackward = 0
    public var bucketCount: Int { buckets.count }

    public init(of parameters: [Parameter], over communicator: any Communicator,
                bucketFloats: Int = GradientAverage.defaultBucketFloats) {
        precondition(bucketFloats > 0)
        self.communicator = communicator
        var buckets: [Bucket] = []
        var members: [Parameter] = [], floats = 0
        func close() {
            guard !members.isEmpty else { return }
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: floats)
            buckets.append(Bucket(members: members, buffer: buffer))
            members = []
            floats = 0
        }
        for parameter in parameters.reversed() {
            if !members.isEmpty && floats + parameter.count > bucketFloats { close() }
            members.append(parameter)
            floats += parameter.count
        }
        close()
        self.buckets = buckets
        var index: [ObjectIdentifier: Int] = [:]
        for (bucket, contents) in buckets.enumerated() {
            for parameter in contents.members { index[ObjectIdentifier(parameter.tensor)] = bucket }
        }
        bucketOfParameter = index
    }

    deinit {
        for bucket in buckets { bucket.buffer.deallocate() }
    }

    public func gradientIsFinal(for leaf: Tensor) throws {
        guard let bucket = bucketOfParameter[ObjectIdentifier(leaf)] else { return }   // not averaged (the head)
        buckets[bucket].finalMembers += 1
        while started < buckets.count && buckets[started].finalMembers == buckets[started].members.count {
            try start(started)
        }
    }

    public func opIsDone() throws {
        try completeFinished()
    }

    /// Starts every bucket not started yet, waits for all, and leaves each parameter's gradient averaged.
    /// Ready for the next update afterwards.
    public func finish() throws {
        defer {
            started = 0
            for index in buckets.indices { buckets[index].finalMembers = 0 }
        }
        bucketsStartedDuringBackward = started
        while started < buckets.count { try start(started) }
        for (bucket, reduction) in pending {
            try reduction.wait()
            unpack(bucket)
        }
        pending = []
    }

    private func start(_ index: Int) throws {
        started += 1
        let bucket = buckets[index]
        var offset = 0
        for parameter in bucket.members {
            let slice = UnsafeMutableBufferPointer(rebasing: bucket.buffer[offset..<(offset + parameter.count)])
            let packed: Void? = parameter.withUnsafeGrad { _ = slice.update(fromContentsOf: $0) }
            if packed == nil { slice.update(repeating: 0) }
            offset += parameter.count
        }
        pending.append((index, try communicator.startAllReduce(bucket.buffer)))
    }

    /// Unpacks the buckets whose sums have arrived (in start order, so each test also moves the oldest along).
    private func completeFinished() throws {
        while let (bucket, reduction) = pending.first, try reduction.isComplete() {
            unpack(bucket)
            pending.removeFirst()
        }
    }

    private func unpack(_ index: Int) {
        let bucket = buckets[index]
        let inverse = 1 / Float(communicator.worldSize)
        var offset = 0
        for parameter in bucket.members {
            let count = parameter.count
            parameter.withUnsafeMutableGrad { grad in
                for element in 0..<count { grad[element] = bucket.buffer[offset + element] * inverse }
            }
            offset += count
        }
    }
}
