import Foundation

/// Faults that the reliability drills (`make drills`, scripts/drills/drills.py) and the tests inject into a real
/// run of the binary, each set by an environment variable read once. A kill at a random moment lands in a
/// checkpoint's few milliseconds of renames only by luck, and a disk cannot be made to fill at a chosen write,
/// so the drills name the moment instead. With none of them set (every real run), each check below is a
/// comparison with nil.
enum FaultInjection {
    /// `HAARFACE_FAULT_NONFINITE_STEP=N`: a NaN pixel in step N's batch, so that the forward pass itself
    /// produces the NaN loss, as a real one would (the margin head's loss is bounded, so a real run cannot be
    /// steered to one reliably). The default of `Trainer.Options.injectedNonFiniteStep`, which in-process
    /// tests set.
    static let nonFiniteStep: Int? = integer("HAARFACE_FAULT_NONFINITE_STEP")

    /// Step `step`'s pixels, with the first one NaN when that step is the injected one.
    static func pixels(_ pixels: [Float], step: Int, nonFiniteStep: Int?) -> [Float] {
        guard step == nonFiniteStep, !pixels.isEmpty else { return pixels }
        var poisoned = pixels
        poisoned[0] = .nan
        return poisoned
    }

    /// Where in a checkpoint's write `HAARFACE_FAULT_KILL_IN_CHECKPOINT` kills the process.
    enum CheckpointMoment: String {
        /// After the first file is on disk in `checkpoint.partial/`, before the others.
        case files
        /// After `checkpoint/` has become `checkpoint.previous/`, before `checkpoint.partial/` becomes `checkpoint/`.
        case swap
    }

    /// `HAARFACE_FAULT_KILL_IN_CHECKPOINT=MOMENT:N` (`files:3`, `swap:1`): the process sends itself SIGKILL at
    /// that moment of the N-th checkpoint it writes (counted from 1 in each process, so a resumed run counts
    /// afresh).
    static let killInCheckpoint: (moment: CheckpointMoment, checkpoint: Int)? = {
        let variable = "HAARFACE_FAULT_KILL_IN_CHECKPOINT"
        guard let (moment, count) = namedCount(variable, expecting: "files:N or swap:N") else { return nil }
        guard let parsed = CheckpointMoment(rawValue: moment) else {
            fatalError("\(variable): expected files:N or swap:N, found the moment '\(moment)'")
        }
        return (parsed, count)
    }()

    /// `HAARFACE_FAULT_ENOSPC=FILE:N` (`training.log:5`, `metrics.csv:1`, `head.safetensors:2`): the N-th write
    /// this process makes to a file named FILE writes half its bytes and then fails with ENOSPC, as a write to
    /// a full disk does. A write is one log line, one flush of metrics.csv's rows, or one whole checkpoint file.
    static let noSpace: (fileName: String, write: Int)? = {
        namedCount("HAARFACE_FAULT_ENOSPC", expecting: "FILE:N").map { ($0.name, $0.count) }
    }()

    /// Counts a checkpoint write starting in this process; returns its 1-based number.
    static func checkpointBegun() -> Int {
        counts.lock()
        defer { counts.unlock() }
        checkpoints += 1
        return checkpoints
    }

    /// Kills the process here when this is the moment `HAARFACE_FAULT_KILL_IN_CHECKPOINT` names;
    /// `checkpoint` is the 1-based number of the checkpoint being written.
    static func killIfDue(_ moment: CheckpointMoment, checkpoint: Int) {
        guard let due = killInCheckpoint, due.checkpoint == checkpoint, due.moment == moment else { return }
        kill(getpid(), SIGKILL)
    }

    /// The number of bytes of a `count`-byte write to `url` that may reach the file before it fails with ENOSPC:
    /// nil for a write that goes through whole (every write unless `HAARFACE_FAULT_ENOSPC` names this one).
    static func bytesBeforeNoSpace(writing count: Int, to url: URL) -> Int? {
        guard let due = noSpace, due.fileName == url.lastPathComponent else { return nil }
        counts.lock()
        defer { counts.unlock() }
        writesToNoSpaceFile += 1
        return writesToNoSpaceFile == due.write ? count / 2 : nil
    }

    private static let counts = NSLock()
    nonisolated(unsafe) private static var checkpoints = 0
    nonisolated(unsafe) private static var writesToNoSpaceFile = 0

    private static func integer(_ variable: String) -> Int? {
        guard let text = ProcessInfo.processInfo.environment[variable] else { return nil }
        guard let value = Int(text) else { fatalError("\(variable): expected a step number, found '\(text)'") }
        return value
    }

    /// `NAME:N` from `variable`, N at least 1. A fault variable that does not parse is a mistake in a drill, and a
    /// drill that silently injected nothing would pass for the wrong reason: it stops the process instead.
    private static func namedCount(_ variable: String, expecting form: String) -> (name: String, count: Int)? {
        guard let text = ProcessInfo.processInfo.environment[variable] else { return nil }
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex,
              let count = Int(text[text.index(after: colon)...]), count >= 1 else {
            fatalError("\(variable): expected \(form), found '\(text)'")
        }
        return (String(text[..<colon]), count)
    }
}
