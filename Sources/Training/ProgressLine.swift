import Foundation

/// A one-line progress display on a terminal's standard error, redrawn at most a few times a second.
final class ProgressLine {
    private var lastDraw = 0.0
    private let start = Trainer.now()

    func update(step: Int, total: Int, epoch: Int, epochs: Int, loss: Double, learningRate: Double, imagesPerSecond: Double) {
        let now = Trainer.now()
        guard now - lastDraw > 0.2 || step == total else { return }
        lastDraw = now
        let width = 24
        let filled = Int(Double(width) * Double(step) / Double(max(total, 1)))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let elapsed = now - start
        let remaining = step > 0 ? elapsed / Double(step) * Double(total - step) : 0
        let line = String(format: "\r epoch %d/%d [%@] step %d/%d  loss %.4f  lr %.3g  %.1f img/s  eta %@ ",
                          epoch + 1, epochs, bar, step, total, loss, learningRate, imagesPerSecond, Self.clock(remaining))
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        FileHandle.standardError.write(Data("\n".utf8))
    }

    static func clock(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole >= 3600 ? String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60)
            : String(format: "%d:%02d", whole / 60, whole % 60)
    }
}
