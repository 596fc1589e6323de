import Foundation

/// The tiny set and model the train and eval command tests share, made once per test process: 10 synthetic
/// identities x 8 images at 16x16 in RecordIO, plus 40 held-out pairs as `synth_val.bin` and as FastFace's
/// folder `synth_val/` (imgs/0.jpg ... 79.jpg, pair_label.npy).
enum TinyTraining {
    static let dataDirectory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("train-data-\(UUID().uuidString)")
        let run = try! CLI.run(["synth", "--identities", "10", "--images-per-identity", "8", "--image-size", "16",
                                "--seed", "5", "--pairs", "40", "--format", "rec", "--output", url.path])
        precondition(run.status == 0, run.stderr)
        return url
    }()

    /// `haarface train` on the tiny set: IResNet-18 at 16x16, embedding 32, batch 8, 2 epochs of 10 steps.
    /// `scheduler` replaces the default MHLR window of 4 steps.
    static func arguments(output: URL, extra: [String] = [], scheduler: [String] = ["--window", "4"]) -> [String] {
        ["train", "--rec", dataDirectory.path, "--val-targets", "synth_val", "--network", "r18", "--image-size", "16",
         "--embedding-size", "32", "--batch-size", "8", "--num-epoch", "2", "--frequent", "2", "--verbose", "10",
         "--num-workers", "1", "--output", output.path] + scheduler + extra
    }

    /// A `model.safetensors` from 2 training steps (batch 40, one epoch) on the tiny set: a real checkpoint of
    /// the trainer's, with its metadata (r18, embedding 32, 16x16), in seconds. Read it only: commands that
    /// write beside a checkpoint (`eval`'s record for `verify`) get a link to it in their own folder.
    static let checkpoint: URL = {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-model-\(UUID().uuidString)")
        let run = try! CLI.run(arguments(output: output, extra: ["--batch-size", "40", "--num-epoch", "1", "--verbose", "1000"]))
        precondition(run.status == 0, run.stderr)
        return output.appendingPathComponent("model.safetensors")
    }()
}
