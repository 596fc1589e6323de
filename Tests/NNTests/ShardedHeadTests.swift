import Collective
import Engine
import NN
import Randomness
import XCTest

/// The head split by class across ranks (partial_fc_v2), with threads standing in for the ranks
/// (`ThreadGroup`); the same computations under Open MPI are checked by HaarFaceCLITests'
/// DistributedTrainingTests through `collective-check`.
final class ShardedHeadTests: XCTestCase {
    /// partial_fc_v2's split: num_local = C // W + (rank < C % W), class_start = C // W * rank + min(rank, C % W).
    func testShardsAreContiguousBlocksAsPartialFCV2SplitsThem() {
        let shards = (0..<3).map { ClassShard.of(classCount: 10, rank: $0, worldSize: 3) }
        XCTAssertEqual(shards.map(\.offset), [0, 4, 7])
        XCTAssertEqual(shards.map(\.count), [4, 3, 3])
        XCTAssertEqual(shards[1].localIndex(of: 6), 2)
        XCTAssertNil(shards[1].localIndex(of: 7))
        XCTAssertEqual(ClassShard.of(classCount: 10, rank: 0, worldSize: 1), .whole(classCount: 10))
    }

    /// Three ranks (shards of 5, 4 and 4 classes, embedding 5 so the centres' normal pairs straddle shard
    /// borders) give the single-process loss and gradients on the gathered batch: each rank's embedding
    /// gradient is 3 times its rows' (the all-gather's backward, which the backbone's averaging undoes), and
    /// each shard's centre gradient its rows'.
    func testThreeShardsGiveTheSingleProcessLossAndGradients() throws {
        let classCount = 13, width = 5, batch = 4, world = 3
        let margin = try CombinedMargin.arcFace(scale: 16, margin: 0.5)
        var stream = SplitMix64(seed: 9)
        let embeddings = stream.normal(world * batch * width, std: 1)
        let labels = (0..<(world * batch)).map { _ in stream.uniform(below: classCount) }

        let whole = try PartialFC(margin: margin, embeddingSize: width, classCount: classCount, seed: 4)
        let gathered = Tensor(shape: [world * batch, width], values: embeddings, requiresGrad: true)
        let reference = try whole.loss(gathered, labels: labels)
        try reference.backward()
        let referenceEmbeddingGradient = try gathered.grad!.values()
        let referenceCentreGradient = try whole.weight.grad!.values()

        let results = try ThreadGroup(worldSize: world).run { communicator -> (Float, [Float], [Float], [Float]) in
            let rank = communicator.rank
            let shard = ClassShard.of(classCount: classCount, rank: rank, worldSize: world)
            let head = try PartialFC(margin: margin, embeddingSize: width, classCount: classCount, seed: 4, shard: shard)
            let mine = Tensor(shape: [batch, width], values: Array(embeddings[(rank * batch * width)..<((rank + 1) * batch * width)]),
                              requiresGrad: true)
            let loss = try head.loss(mine, labels: Array(labels[(rank * batch)..<((rank + 1) * batch)]), communicator: communicator)
            let centres = head.weight.values
            try loss.backward()
            return (try loss.item(), try mine.grad!.values(), try head.weight.grad!.values(), centres)
        }
        for (rank, (loss, embeddingGradient, centreGradient, centres)) in results.enumerated() {
            let shard = ClassShard.of(classCount: classCount, rank: rank, worldSize: world)
            let rows = (shard.offset * width)..<(shard.classes.upperBound * width)
            XCTAssertEqual(centres, Array(whole.weight.values[rows]), "rank \(rank) holds the single-process rows")
            XCTAssertEqual(loss, try reference.item(), accuracy: 1e-5 * abs(try reference.item()), "rank \(rank)")
            let expected = referenceEmbeddingGradient[(rank * batch * width)..<((rank + 1) * batch * width)].map { $0 * Float(world) }
            assertClose(embeddingGradient, expected, "rank \(rank) embeddings")
            assertClose(centreGradient, Array(referenceCentreGradient[rows]), "rank \(rank) centres")
        }
    }

    private func assertClose(_ actual: [Float], _ expected: [Float], _ message: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, message, file: file, line: line)
        let scale = expected.map(abs).max() ?? 1
        let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, 1e-5 * scale, message, file: file, line: line)
    }
}
