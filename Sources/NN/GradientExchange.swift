import Collective
import Engine

/// DDP's gradient allreduce: replaces the gradient of every parameter by its mean over the ranks of
/// `communicator`. The parameters are packed into buckets of at most `bucketFloats` floats in their order
/// (DDP's 25 MB buckets); every rank packs the same parameters in the same order, each gradient in the
/// memory layout the engine keeps it in (the same on every rank), so the sums are element by element. A
/// parameter without a gradient on this rank (unused in its forward pass) contributes zeros and is left
/// without one. Nothing to do in a world of one.
public func averageGradients(of parameters: [Parameter], over communicator: any Communicator,
                             bucketFloats: Int = 25 << 18) throws {
    guard communicator.worldSize > 1 else { return }
    let inverse = 1 / Float(communicator.worldSize)
    var bucket: [Float] = []
    var members: [Parameter] = []
    func flush() throws {
        guard !bucket.isEmpty else { return }
        try bucket.withUnsafeMutableBufferPointer { try communicator.allReduce($0, .sum) }
        var offset = 0
        for parameter in members {
            let count = parameter.count
            parameter.withUnsafeMutableGrad { grad in
                for index in 0..<count { grad[index] = bucket[offset + index] * inverse }
            }
            offset += count
        }
        bucket.removeAll(keepingCapacity: true)
        members.removeAll(keepingCapacity: true)
    }
    for parameter in parameters {
        if !bucket.isEmpty && bucket.count + parameter.count > bucketFloats { try flush() }
        let packed: Void? = parameter.withUnsafeGrad { bucket.append(contentsOf: $0) }
        if packed == nil { bucket.append(contentsOf: repeatElement(0, count: parameter.count)) }
        members.append(parameter)
    }
    try flush()
}
