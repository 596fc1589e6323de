import Foundation
import TensorBoard

/// `<output>/tensorboard/`: the run's scalars in TensorBoard event files, where arcface_torch's SummaryWriter
/// puts them, under its tags where it has them, at the global step. Each step writes one event holding the
/// step's loss, LR and images/s (metrics.csv's row, to the float32 TensorBoard stores) and, with MHLR, the Haar
/// response after the step's loss; each verification one event of every target's accuracy.
final class TensorBoardLog {
    /// The log folder, beside training.log.
    static let folder = "tensorboard"

    enum Tag {
        /// The step's loss (arcface_torch: CallBackLogging's `loss`, there averaged over `frequent` steps).
        static let loss = "loss"
        /// The LR the step trained with (arcface_torch's CallBackLogging: `learning_rate`).
        static let learningRate = "learning_rate"
        /// metrics.csv's column (arcface_torch prints its speed in the log only).
        static let imagesPerSecond = "images_per_second"
        /// MHLR's plateau detector: the Haar response of the smoothed loss, once its window has filled.
        static let haarResponse = "mhlr/haar_response"
        // A verification target's flip-test accuracy is tagged with the target's name (`lfw`), as
        // arcface_torch's CallBackVerification tags it.
    }

    private let writer: EventFileWriter

    /// Continues the event file of `state` (a resumed run's checkpoint), cut back to its size then; a new file
    /// when there is none, or when that file is gone or shorter (what happened goes to `note`).
    init(outputDirectory: URL, continuing state: EventFileState?, note: (String) -> Void) throws {
        let directory = outputDirectory.appendingPathComponent(Self.folder)
        if let state {
            do {
                writer = try EventFileWriter.reopen(state, in: directory)
                return
            } catch let error as EventFileError {
                note("tensorboard: \(error); writing a new event file from here on")
            }
        }
        writer = try EventFileWriter.create(in: directory, writer: "haarface")
    }

    /// The event file being written.
    var url: URL { writer.url }

    func step(_ step: Int, loss: Double, learningRate: Double, imagesPerSecond: Double, haarResponse: Double?) throws {
        var scalars = [(Tag.loss, Float(loss)), (Tag.learningRate, Float(learningRate)),
                       (Tag.imagesPerSecond, Float(imagesPerSecond))]
        if let haarResponse { scalars.append((Tag.haarResponse, Float(haarResponse))) }
        try writer.addScalars(scalars, step: step)
    }

    /// Each target's accuracy (in [0, 1]) at `step`.
    func verification(_ step: Int, accuracies: [(target: String, accuracy: Double)]) throws {
        guard !accuracies.isEmpty else { return }
        try writer.addScalars(accuracies.map { ($0.target, Float($0.accuracy)) }, step: step)
    }

    /// Writes and syncs what is buffered; the state is what a checkpoint keeps.
    func flush() throws -> EventFileState { try writer.flush() }
}
