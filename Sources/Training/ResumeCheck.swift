import Foundation
import NN

extension Trainer {
    /// The newest checkpoint in `output` and its trainer state, checked whole before `--resume` changes anything:
    /// every file against the checkpoint's manifest (size and CRC-32), trainer.json decoded, and training.log and
    /// metrics.csv at least as long as the checkpoint saw them, with a line ending there (the resumed run cuts
    /// them back to those sizes; a shorter file would be padded with zero bytes). A checkpoint without a
    /// manifest, from before checkpoints had one, has its files read as what they are instead (`resumeNote`).
    static func savedState(in output: URL) throws -> (state: TrainerState, folder: URL) {
        guard let folder = CheckpointStore(directory: output).latest() else {
            throw TrainingError(description: "\(output.path): --resume found no checkpoint to resume from")
        }
        let checked: Bool
        do { checked = try CheckpointStore.verify(folder) } catch let error as CheckpointError {
            throw TrainingError(description: "\(error); --resume refuses a damaged checkpoint and has changed nothing")
        }
        let stateURL = folder.appendingPathComponent("trainer.json")
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: stateURL))
        } catch {
            throw TrainingError(description: "\(stateURL.path): not a readable trainer state (\(error))")
        }
        if !checked {
            for file in ["backbone.safetensors", "head.safetensors", "optimizer.safetensors"] {
                _ = try SafeTensors.read(contentsOf: folder.appendingPathComponent(file))
            }
        }
        try checkContinued(output.appendingPathComponent("training.log"), bytesAtCheckpoint: state.logBytes)
        try checkContinued(output.appendingPathComponent("metrics.csv"), bytesAtCheckpoint: state.metricsBytes)
        return (state, folder)
    }

    /// What the log says about how a resumed checkpoint was checked, when it could not be checked whole.
    static func resumeNote(_ folder: URL) -> String? {
        let manifest = folder.appendingPathComponent(CheckpointManifest.fileName)
        guard !FileManager.default.fileExists(atPath: manifest.path) else { return nil }
        return "\(folder.path) has no \(CheckpointManifest.fileName) (a checkpoint from before checkpoints had one): "
            + "its files were read as safetensors and JSON, but damage inside a tensor would go unseen"
    }

    /// A file a resumed run continues from `bytes` on must reach that far and end a line there.
    private static func checkContinued(_ url: URL, bytesAtCheckpoint bytes: UInt64) throws {
        guard bytes > 0 else { return }
        func fail(_ problem: String) -> TrainingError {
            TrainingError(description: "\(url.path): \(problem); --resume continues it from the checkpoint's \(bytes) "
                          + "bytes and will not pad it: put the file back as it was")
        }
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw fail("missing or unreadable") }
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        guard size >= bytes else { throw fail("\(size) bytes, fewer than the checkpoint saw") }
        try handle.seek(toOffset: bytes - 1)
        guard try handle.read(upToCount: 1) == Data("\n".utf8) else {
            throw fail("byte \(bytes) is not the end of a line, as it was at the checkpoint: the file was changed since")
        }
    }
}
