// Checks the computations that span ranks against one process, under Open MPI (the tests start it with
// `mpirun -np 2 collective-check <check>`); rank 0 prints one JSON object of the measured differences.
//   head [sample_rate]   the sharded Partial FC head: its loss and its gradients with respect to each rank's
//                        embeddings and to each shard's centres, against the single-process head on the
//                        gathered batch with the union of the shards' classes (float32 rounding apart)
//   gradients            the averaged backbone gradients against the mean of the ranks' own gradients, and the
//                        average overlapped with backward against the one after it
//   step                 two whole training steps of the trainer's stages (forward, the head's loss across
//                        ranks, backward, gradient averaging, clipping, SGD on both groups) with batch norm on its
//                        running statistics, where they are one computation with one process on the gathered
//                        batch: the weights after them against that process's
//   step sync            the same with batch norm on batch statistics, synchronised over the ranks
//                        (SyncBatchNorm): the weights and running statistics against the one process's, whose
//                        batch norms take the synchronised path with a world of one
//   head-bench CLASSES SAMPLE_RATE GLOBAL_BATCH STEPS
//                        a benchmark, not a check: the head alone (loss, backward, SGD with momentum and weight
//                        decay on this rank's centres) at a class count such as WebFace12M's 617,970, embedding
//                        512; prints the median seconds per step and each rank's peak resident memory
import Collective
import CollectiveMPI
import Engine
import Foundation
import NN
import Randomness

let communicator = try MPICommunicator()
let arguments = CommandLine.arguments.dropFirst()
var report: [String: Double] = ["ranks": Double(communicator.worldSize)]

func randomTensor(_ shape: [Int], seed: UInt64, requiresGrad: Bool = false) -> Tensor {
    var generator = SplitMix64(seed: seed)
    let values = generator.normal(shape.reduce(1, *), std: 1)
    return Tensor(shape: shape, values: values, requiresGrad: requiresGrad)
}

func maxDifference(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "\(a.count) values against \(b.count)")
    return Double(zip(a, b).map { abs($0 - $1) }.max() ?? 0)
}

switch arguments.first {
case "head":
    let sampleRate = arguments.dropFirst().first.flatMap(Double.init) ?? 1
    // 23 classes: shards of unequal size; embedding 7: the centres' normal pairs straddle shard borders.
    let classCount = 23, embeddingSize = 7, batch = 6, seed: UInt64 = 11
    let margin = try CombinedMargin.arcFace(scale: 16, margin: 0.5)
    let shard = ClassShard.of(classCount: classCount, rank: communicator.rank, worldSize: communicator.worldSize)
    let head = try PartialFC(margin: margin, embeddingSize: embeddingSize, classCount: classCount, sampleRate: sampleRate,
                             seed: seed, shard: shard)
    let initialCentres = head.weight.values
    let embeddings = randomTensor([batch, embeddingSize], seed: 100 + UInt64(communicator.rank), requiresGrad: true)
    var labelStream = SplitMix64(seed: 200 + UInt64(communicator.rank))
    let labels = (0..<batch).map { _ in labelStream.uniform(below: classCount) }
    let loss = try head.loss(embeddings, labels: labels, communicator: communicator)
    try loss.backward()
    let embeddingGradients = try communicator.allGather(try embeddings.grad!.values())
    let centreGradients = try communicator.gather(try head.weight.grad?.values() ?? [], root: 0)
    let centres = try communicator.gather(initialCentres, root: 0)
    let usedClasses = (head.lastSubset?.classes ?? Array(0..<shard.count)).map { Float($0 + shard.offset) }
    let subsets = try communicator.gather(usedClasses, root: 0)
    let losses = try communicator.gather([try loss.item()], root: 0)
    let allEmbeddings = try communicator.allGather(try embeddings.values())
    let allLabels = try communicator.allGather(labels)
    if communicator.isRoot {
        let whole = try PartialFC(margin: margin, embeddingSize: embeddingSize, classCount: classCount, seed: seed)
        report["initial_centres_difference"] = maxDifference(whole.weight.values, centres!)
        let gathered = Tensor(shape: [allLabels.count, embeddingSize], values: allEmbeddings, requiresGrad: true)
        let classes = subsets!.map { Int($0) }
        let subset = sampleRate < 1 ? try ClassSubset(classes: classes, batchLabels: allLabels) : nil
        let reference = try whole.loss(gathered, labels: allLabels, subset: subset)
        try reference.backward()
        report["loss"] = Double(try reference.item())
        report["loss_difference"] = losses!.map { abs(Double($0) - Double(try! reference.item())) }.max()!
        // Each rank's embedding gradient is the world size times its rows' (see allGatherRows).
        let scale = Float(communicator.worldSize)
        report["embedding_gradient_difference"] = maxDifference(try gathered.grad!.values().map { $0 * scale }, embeddingGradients)
        report["embedding_gradient_largest"] = Double(embeddingGradients.map(abs).max()!)
        report["centre_gradient_difference"] = maxDifference(try whole.weight.grad!.values(), centreGradients!)
        report["centre_gradient_largest"] = Double(centreGradients!.map(abs).max()!)
        report["classes_used"] = Double(classes.count)
    }
case "gradients":
    // The same backbone on every rank (one seed), each rank's own images.
    let backbone = try IResNet(depth: 18, widths: [8, 8, 16, 16], imageHeight: 16, imageWidth: 16, embeddingSize: 8,
                               initialization: .random(seed: 3))
    let images = randomTensor([2, 3, 16, 16], seed: 300 + UInt64(communicator.rank))
    try backbone(images).square().sum().backward()
    let parameters = backbone.trainableParameters
    let own = parameters.flatMap { try! $0.grad!.values() }
    let everyRanks = try communicator.allGather(own)
    try averageGradients(of: parameters, over: communicator, bucketFloats: 2_000)   // several buckets
    let averaged = parameters.flatMap { try! $0.grad!.values() }
    let count = own.count, world = communicator.worldSize
    let mean = (0..<count).map { index in
        (0..<world).reduce(Float(0)) { $0 + everyRanks[$1 * count + index] } / Float(world)
    }
    let difference = try communicator.allReduce([Float(maxDifference(averaged, mean))], .max)[0]
    let ownDifference = try communicator.allReduce([Float(maxDifference(averaged, own))], .max)[0]
    report["averaged_difference"] = Double(difference)
    report["averaged_vs_own_difference"] = Double(ownDifference)
    report["parameters"] = Double(count)
    // The same average overlapped with backward: buckets start as backward completes them.
    for parameter in parameters { parameter.zeroGrad() }
    let overlapped = GradientAverage(of: parameters, over: communicator, bucketFloats: 2_000)
    try backbone(images).square().sum().backward(observer: overlapped)
    try overlapped.finish()
    let overlappedDifference = maxDifference(parameters.flatMap { try! $0.grad!.values() }, averaged)
    report["overlapped_difference"] = Double(try communicator.allReduce([Float(overlappedDifference)], .max)[0])
    report["buckets"] = Double(overlapped.bucketCount)
    report["buckets_started_during_backward"] = Double(overlapped.bucketsStartedDuringBackward)
case "step":
    let synchronised = arguments.dropFirst().first == "sync"
    func train(_ communicator: any Communicator, images: [Float], labels: [Int]) throws
        -> (backbone: [Float], head: [Float], statistics: [Float]) {
        let backbone = try IResNet(depth: 18, widths: [8, 8, 16, 16], imageHeight: 16, imageWidth: 16, embeddingSize: 8,
                                   initialization: .random(seed: 3))
        let batchNorms = backbone.allModules.compactMap { $0 as? BatchNorm }
        if synchronised {
            // Batch statistics over the ranks' batches together: one computation with one process's batch.
            // The one process takes the same path with a world of one (sums that change nothing): oneDNN's own
            // batch norm, whose float32 statistics differ from these Double sums by ~1e-5 per layer
            // (SyncBatchNormTests), ends two steps through 20 small-batch layers ~3e-3 apart, which would hide
            // what this check is for, the exchange.
            backbone.train()
            for layer in batchNorms { layer.crossRankSum = { try communicator.allReduce($0, .sum) } }
        } else {
            backbone.eval()   // per-sample batch norm: what the ranks compute together is what one process computes
        }
        let shard = ClassShard.of(classCount: 23, rank: communicator.rank, worldSize: communicator.worldSize)
        let head = try PartialFC(margin: .arcFace(scale: 16), embeddingSize: 8, classCount: 23, seed: 5, shard: shard)
        let sgd = try SGD(groups: [backbone.trainableParameters, [head.weight]].map {
            .init(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
        })
        for _ in 0..<2 {
            let loss = try head.loss(try backbone(Tensor(shape: [labels.count, 3, 16, 16], values: images)), labels: labels,
                                     communicator: communicator)
            try loss.backward()
            try averageGradients(of: backbone.trainableParameters, over: communicator)
            clipGradNorm(backbone.trainableParameters, maxNorm: 5)
            sgd.step()
            sgd.zeroGrad()
        }
        return (backbone.trainableParameters.flatMap(\.values), try communicator.gather(head.weight.values, root: 0) ?? [],
                batchNorms.flatMap { $0.runningMean.values + $0.runningVar.values })
    }
    var stream = SplitMix64(seed: 500 + UInt64(communicator.rank))
    let images = stream.normal(4 * 3 * 16 * 16, std: 1)
    let labels = (0..<4).map { _ in stream.uniform(below: 23) }
    let ranks = try train(communicator, images: images, labels: labels)
    let allImages = try communicator.allGather(images), allLabels = try communicator.allGather(labels)
    let backbones = try communicator.allGather(ranks.backbone)
    if communicator.isRoot {
        let single = try train(SingleProcess(), images: allImages, labels: allLabels)
        let count = single.backbone.count
        report["backbone_difference"] = (0..<communicator.worldSize).map {
            maxDifference(Array(backbones[($0 * count)..<(($0 + 1) * count)]), single.backbone)
        }.max()!
        report["head_difference"] = maxDifference(ranks.head, single.head)
        report["statistics_difference"] = maxDifference(ranks.statistics, single.statistics)
        report["statistics_largest"] = Double(single.statistics.map(abs).max() ?? 0)
        let initial = try IResNet(depth: 18, widths: [8, 8, 16, 16], imageHeight: 16, imageWidth: 16, embeddingSize: 8,
                                  initialization: .random(seed: 3)).trainableParameters.flatMap(\.values)
        report["backbone_change"] = maxDifference(initial, single.backbone)
        let initialHead = try PartialFC(margin: .arcFace(scale: 16), embeddingSize: 8, classCount: 23, seed: 5).weight.values
        report["head_change"] = maxDifference(initialHead, single.head)
    }
case "head-bench":
    let values = arguments.dropFirst().map { Double($0) ?? .nan }
    guard values.count == 4, values.allSatisfy(\.isFinite), Int(values[2]) % communicator.worldSize == 0 else {
        FileHandle.standardError.write(Data("head-bench CLASSES SAMPLE_RATE GLOBAL_BATCH STEPS (the batch a multiple of the ranks)\n".utf8))
        communicator.abort(code: 2)
    }
    let classCount = Int(values[0]), sampleRate = values[1], batch = Int(values[2]) / communicator.worldSize
    let steps = Int(values[3]), embeddingSize = 512
    let shard = ClassShard.of(classCount: classCount, rank: communicator.rank, worldSize: communicator.worldSize)
    let setupStart = Date()
    let head = try PartialFC(margin: .arcFace(), embeddingSize: embeddingSize, classCount: classCount, sampleRate: sampleRate,
                             seed: 1, shard: shard)
    let sgd = try SGD(groups: [.init(parameters: [head.weight], learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)])
    let setupSeconds = Date().timeIntervalSince(setupStart)
    var labelStream = SplitMix64(seed: 7 + UInt64(communicator.rank))
    var times: [Double] = []
    for step in 0..<steps {
        let embeddings = randomTensor([batch, embeddingSize], seed: UInt64(1000 * step + communicator.rank), requiresGrad: true)
        let labels = (0..<batch).map { _ in labelStream.uniform(below: classCount) }
        let start = Date()
        let loss = try head.loss(embeddings, labels: labels, communicator: communicator)
        try loss.backward()
        sgd.step()
        sgd.zeroGrad()
        times.append(Date().timeIntervalSince(start))
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let peaks = try communicator.allGather([Float(usage.ru_maxrss) / 1_048_576])   // GiB (ru_maxrss is KiB)
    let slowest = try communicator.allReduce(times, .max)
    let sorted = slowest.dropFirst().sorted()   // the first step warms the caches up
    report["classes"] = Double(classCount)
    report["classes_per_rank"] = Double(shard.count)
    report["sample_rate"] = sampleRate
    report["global_batch"] = Double(batch * communicator.worldSize)
    report["setup_seconds"] = setupSeconds
    report["median_step_seconds"] = sorted.isEmpty ? slowest[0] : sorted[sorted.count / 2]
    for (rank, peak) in peaks.enumerated() { report["peak_rss_gib_rank\(rank)"] = Double(peak) }
default:
    FileHandle.standardError.write(Data("usage: collective-check head [sample_rate] | gradients | head-bench ...\n".utf8))
    communicator.abort(code: 2)
}
if communicator.isRoot {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(report), as: UTF8.self))
}
communicator.finalize()
