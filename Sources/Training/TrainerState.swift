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
    /// Partial FC's class-sampling stream.
    var headGenerator: HeadRandom
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
