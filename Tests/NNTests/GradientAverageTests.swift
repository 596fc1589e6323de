import Collective
import Engine
import NN
import Randomness
import XCTest

/// DDP's bucketed gradient average, with threads standing in for the ranks (`ThreadGroup`, whose sums add
/// the ranks' values in rank order); under Open MPI, with the buckets' sums in flight during backward, it
/// is checked by DistributedTrainingTests through `collective-check gradients`.
final class GradientAverageTests: XCTestCase {
    /// Three ranks, each its own images through one backbone: overlapped with backward (buckets of at most
    /// 1,000 floats, started as backward completes them) and after it, every rank ends with the mean of the
    /// ranks' own gradients, bit for bit ((g0 + g1 + g2) x 1/3, as the average computes it).
    func testEveryRankEndsWithTheMeanOfTheRanksGradients() throws {
        let world = 3
        let results = try ThreadGroup(worldSize: world).run { communicator -> (own: [Float], after: [Float], overlapped: [Float], started: Int, buckets: Int) in
            let backbone = try IResNet(depth: 18, widths: [4, 4, 8, 8], imageHeight: 16, imageWidth: 16, embeddingSize: 4,
                                       initialization: .random(seed: 3))
            var stream = SplitMix64(seed: 40 + UInt64(communicator.rank))
            let images = Tensor(shape: [2, 3, 16, 16], values: stream.normal(2 * 3 * 16 * 16, std: 1))
            let parameters = backbone.trainableParameters
            func gradients() -> [Float] { parameters.flatMap { try! $0.grad!.values() } }

            try backbone(images).square().sum().backward()
            let own = gradients()
            try averageGradients(of: parameters, over: communicator, bucketFloats: 1_000)
            let after = gradients()

            for parameter in parameters { parameter.zeroGrad() }
            let average = GradientAverage(of: parameters, over: communicator, bucketFloats: 1_000)
            try backbone(images).square().sum().backward(observer: average)
            try average.finish()
            return (own, after, gradients(), average.bucketsStartedDuringBackward, average.bucketCount)
        }
        let count = results[0].own.count
        let mean = (0..<count).map { index in
            (results[0].own[index] + results[1].own[index] + results[2].own[index]) * (1 / Float(world))
        }
        for (rank, result) in results.enumerated() {
            XCTAssertEqual(result.after, mean, "rank \(rank), averaged after backward")
            XCTAssertEqual(result.overlapped, mean, "rank \(rank), averaged during backward")
            XCTAssertGreaterThan(result.buckets, 3)
            XCTAssertEqual(result.started, result.buckets, "rank \(rank): every bucket started during backward")
        }
        XCTAssertNotEqual(results[0].own, results[1].own, "the ranks' own gradients differ")
    }

    /// A parameter the forward pass did not use contributes zeros and stays without a gradient, and the
    /// bucket holding it is started by `finish()` (backward never completes it).
    func testUnusedParameterContributesZerosAndStaysWithout() throws {
        let results = try ThreadGroup(worldSize: 2).run { communicator -> ([Float], Bool, Int) in
            let used = Parameter(name: "used", shape: [3], values: [1, 2, 3])
            let unused = Parameter(name: "unused", shape: [2], values: [1, 1])
            let average = GradientAverage(of: [used, unused], over: communicator, bucketFloats: 2)
            try used.tensor.scaled(by: Float(communicator.rank + 1)).sum().backward(observer: average)
            try average.finish()
            return (try used.grad!.values(), unused.grad == nil, average.bucketsStartedDuringBackward)
        }
        for (gradient, unusedHasNone, started) in results {
            XCTAssertEqual(gradient, [1.5, 1.5, 1.5])   // (1 + 2) / 2
            XCTAssertTrue(unusedHasNone)
            // Buckets in reverse order: [unused], [used]. The first waits for `unused`, which backward never
            // completes, so neither starts during backward (each starts only after the ones before it).
            XCTAssertEqual(started, 0)
        }
    }
}

