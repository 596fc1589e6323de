import FaceData
import Foundation

/// The study `haarface compare` runs with no study file (`make compare`): the paper's experiment at small
/// scale on a synthetic set, sized (docs/mhlr-study.md says how) so that the whole study finishes well within
/// 90 minutes on a 2-core machine and the 20-epoch reference does not saturate.
public enum DefaultStudy {
    /// 200 training identities x 20 images at 16x16 (62 steps per epoch at batch 64), harder than `make run`'s
    /// faces (difficulty 1.5), and 6,000 held-out pairs (3,000 different-identity pairs, so TAR at FAR 1e-3 is
    /// resolved) over 300 identities never trained on.
    public static let synthetic = SynthConfig(identities: 200, imagesPerIdentity: 20, imageSize: 16, seed: 2404,
                                              pairs: 6000, pairIdentities: 300, difficulty: 1.5)

    /// The arms: arcface_torch's 20-epoch polynomial schedule (the reference), MHLR (its published window,
    /// 1.5% of the run; 5% of it, which averages more of the batch noise away but is 15 steps, odd, so the
    /// Haar kernel's halves differ and its response is biased by -A/m; and 16 steps, 5% made even) and
    /// FastFace with a quarter of the epochs, the same 5-epoch budget under fixed schedules (the control that tells whether
    /// MHLR helps or just the shorter run), and a 20-epoch MultiStep schedule.
    public static let values: [String: Any] = [
        "base": [
            "network": "r18", "image_size": 16, "embedding_size": 128, "margin_list": [1.0, 0.0, 0.4],
            "batch_size": 64, "lr": 0.1, "frequent": 10, "num_workers": 2,
        ] as [String: Any],
        "reference": "poly-20",
        "seeds": [1, 2, 3],
        "arms": [
            ["name": "poly-20", "num_epoch": 20, "scheduler": ["name": "poly"]],
            ["name": "mhlr-5", "num_epoch": 5, "scheduler": ["name": "mhlr"]],
            ["name": "mhlr-5-w5", "num_epoch": 5, "scheduler": ["name": "mhlr", "window_fraction": 0.05]],
            ["name": "mhlr-5-w16", "num_epoch": 5, "scheduler": ["name": "mhlr", "window": 16]],
            ["name": "fastface-5", "num_epoch": 5, "scheduler": ["name": "fastface"]],
            ["name": "poly-5", "num_epoch": 5, "scheduler": ["name": "poly"]],
            ["name": "cosine-5", "num_epoch": 5, "scheduler": ["name": "cosine"]],
            ["name": "multistep-20", "num_epoch": 20, "scheduler": ["name": "multistep", "milestone_epochs": [10, 15, 18]]],
        ] as [[String: Any]],
    ]

    public static func study() throws -> Study {
        try Study(values: values, source: "default study", directory: URL(fileURLWithPath: "."))
    }
}
