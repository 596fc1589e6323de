import Collective
import Engine
import NN
import Randomness
import XCTest

/// Synchronised batch norm (torch.nn.SyncBatchNorm) with threads standing in for the ranks: each rank's part
/// of the batch through a batch norm whose statistics are summed over the ranks is the plain batch norm of the
/// whole batch in one process (itself checked against PyTorch in LayerTests): the output rows, the input's
/// gradient rows, the weight's and bias's gradients summed over the ranks (the data-parallel average then
/// divides by the world) and the running statistics.
final class SyncBatchNormTests: XCTestCase {
    private struct Result {
        var output: [Float], inputGradient: [Float], weightGradient: [Float], biasGradient: [Float], statistics: [Float]
    }

    /// Forward and backward of sum(batchNorm(x) * w) on `x` ([N, C, ...], its rows from `seed`), one step of
    /// running statistics.
    private static func run(rows: Int, shape: [Int], firstRow: Int, crossRankSum: CrossRankSum?) throws -> Result {
        let channels = shape[1], rowSize = shape.dropFirst().reduce(1, *)
        var stream = SplitMix64(seed: 77)
        let allInputs = stream.normal(12 * rowSize, std: 2).map { $0 + 0.5 }
        let allWeights = stream.normal(12 * rowSize, std: 1)
        let slice = firstRow * rowSize ..< (firstRow + rows) * rowSize
        let input = Tensor(shape: [rows] + shape.dropFirst(), values: Array(allInputs[slice]), requiresGrad: true)
        let layer = BatchNorm(name: "bn", channels: channels, initializer: Initializer(.random(seed: 1)))
        layer.weight.values = (0..<channels).map { 0.5 + Float($0) * 0.25 }
        layer.bias.values = (0..<channels).map { Float($0) * 0.1 - 0.2 }
        layer.crossRankSum = crossRankSum
        layer.train()
        let output = try layer(input)
        try (output * Tensor(shape: output.shape, values: Array(allWeights[slice]))).sum().backward()
        return Result(output: try output.values(), inputGradient: try input.grad!.values(),
                      weightGradient: try layer.weight.grad!.values(), biasGradient: try layer.bias.grad!.values(),
                      statistics: layer.runningMean.values + layer.runningVar.values)
    }

    private func assertClose(_ a: [Float], _ b: [Float], _ what: String, relative: Float = 2e-5) {
        XCTAssertEqual(a.count, b.count, what)
        let largest = b.map(abs).max() ?? 0
        let difference = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(difference, relative * largest, "\(what): max difference \(difference), largest \(largest)")
    }

    private func checkThreeRanks(shape: [Int]) throws {
        let rowsPerRank = [2, 2, 2]
        let ranks = try ThreadGroup(worldSize: 3).run { communicator -> Result in
            try Self.run(rows: rowsPerRank[communicator.rank], shape: shape, firstRow: 2 * communicator.rank,
                         crossRankSum: { try communicator.allReduce($0, .sum) })
        }
        let whole = try Self.run(rows: 6, shape: shape, firstRow: 0, crossRankSum: nil)
        assertClose(ranks.flatMap(\.output), whole.output, "output \(shape)")
        assertClose(ranks.flatMap(\.inputGradient), whole.inputGradient, "input gradient \(shape)")
        let channels = shape[1]
        assertClose((0..<channels).map { c in ranks.map { $0.weightGradient[c] }.reduce(0, +) }, whole.weightGradient,
                    "weight gradient \(shape)")
        assertClose((0..<channels).map { c in ranks.map { $0.biasGradient[c] }.reduce(0, +) }, whole.biasGradient,
                    "bias gradient \(shape)")
        for (rank, result) in ranks.enumerated() {
            assertClose(result.statistics, whole.statistics, "running statistics on rank \(rank), \(shape)")
        }
        XCTAssertNotEqual(ranks[0].weightGradient, whole.weightGradient, "each rank's weight gradient is its own part")
    }

    func testThreeRanksNormaliseAsOneBatchOfFourDimensions() throws {
        try checkThreeRanks(shape: [6, 3, 5, 7])
    }

    func testThreeRanksNormaliseAsOneBatchOfFeatures() throws {
        try checkThreeRanks(shape: [6, 5])   // BatchNorm1d: IResNet's embedding features
    }

    /// A world of one through the synchronised path (a sum that changes nothing) is the plain batch norm.
    func testOneRankIsThePlainBatchNorm() throws {
        let synchronised = try Self.run(rows: 6, shape: [6, 4, 3, 3], firstRow: 0, crossRankSum: { _ in })
        let plain = try Self.run(rows: 6, shape: [6, 4, 3, 3], firstRow: 0, crossRankSum: nil)
        assertClose(synchronised.output, plain.output, "output")
        assertClose(synchronised.inputGradient, plain.inputGradient, "input gradient")
        assertClose(synchronised.weightGradient, plain.weightGradient, "weight gradient")
        assertClose(synchronised.biasGradient, plain.biasGradient, "bias gradient")
        assertClose(synchronised.statistics, plain.statistics, "running statistics")
    }
}
