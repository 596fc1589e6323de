import FaceData
import MHLR
import NN
import TensorBoard

/// Everything beyond the tensors that a resumed run needs to continue exactly where the checkpoint was
/// taken: written as `trainer.json` in each checkpoint.
struct TrainerState: Codable {
    var format = "haarface-trainer-1"
    var config: TrainingConfig
    /// Steps completed.
    var globalStep: Int
    /// Where the loader resumes: the batch after the last one trained on.
    var loader: LoaderState
    var schedule: ScheduleRecorder<AnyScheduler>
    var trace: ScheduleTrace
    /// Partial FC's class-sampling stream (rank 0's).
    var headGenerator: HeadRandom
    /// The ranks the run was trained on when the checkpoint was written, their images per step in all, and
    /// every rank's class-sampling stream; nil in checkpoints of single-process runs from before ranks.
    var ranks: Int?
    var imagesPerStep: Int?
    var headGenerators: [HeadRandom]?
    var verifications: [VerificationRecord]
    var highestAccuracy: [String: Double]
    var skippedNonFiniteSteps: Int
    var skippedBadImages: Int
    /// Sizes of training.log and metrics.csv at the checkpoint: a resumed run cuts both back to them, so
    /// that steps after the checkpoint are not logged twice.
    var logBytes: UInt64
    var metricsBytes: UInt64
    /// The TensorBoard event file and its size at the checkpoint, cut back to as the metrics are; nil in
    /// checkpoints from before event files, or of runs that never wrote one.
    var tensorBoard: EventFileState?
    /// Wall-clock seconds of the training steps so far, and apart from them, of verification and checkpoints.
    var trainingSeconds: Double
    var verificationSeconds: Double
    var checkpointSeconds: Double
    /// Images trained on so far.
    var trainingImages: Int
}

extension TrainerState {
    var worldSize: Int { ranks ?? 1 }
    var globalBatchSize: Int { imagesPerStep ?? config.batchSize }

    /// Where the loader of a run on `worldSize` ranks of `batchSize` images each resumes: the saved position
    /// when the step's images are as many as when it was saved; otherwise the first batch that starts at or
    /// after the images of the saved epoch already trained on (at most one batch's images are trained twice or
    /// skipped in that epoch).
    func loaderPosition(batchSize: Int, worldSize: Int, batchesPerEpoch: Int) throws -> LoaderState {
        let imagesPerStep = batchSize * worldSize
        guard imagesPerStep != globalBatchSize else { return loader }
        let batch = (loader.batchInEpoch * globalBatchSize + imagesPerStep - 1) / imagesPerStep
        return batch < batchesPerEpoch ? LoaderState(epoch: loader.epoch, batchInEpoch: batch)
                                       : LoaderState(epoch: loader.epoch + 1, batchInEpoch: 0)
    }

    /// Takes up a restored state on `rank` of `worldSize`: this rank's class-sampling stream when the run
    /// continues on as many ranks, else the head's own fresh one (the classes each rank owns changed); the
    /// loader at `loaderPosition`.
    mutating func `continue`(worldSize: Int, rank: Int, head: PartialFC, loaderPosition: LoaderState) {
        if worldSize == self.worldSize {
            head.generator = headGenerators?[rank] ?? headGenerator
        }
        loader = loaderPosition
    }
}
