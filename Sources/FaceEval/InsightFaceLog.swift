import Foundation

/// Insightface's verification log lines (`CallBackVerification`), formatted with its printf patterns.
/// `set` is the .bin name without extension ("lfw"), `step` the global step.
public enum InsightFaceLog {
    public static func xNorm(set: String, step: Int, _ value: Double) -> String {
        "[\(set)][\(step)]XNorm: " + String(format: "%f", value)
    }

    public static func accuracyFlip(set: String, step: Int, mean: Double, standardDeviation: Double) -> String {
        "[\(set)][\(step)]Accuracy-Flip: " + String(format: "%1.5f+-%1.5f", mean, standardDeviation)
    }

    /// The best "Accuracy-Flip" mean seen so far for this set; the trainer keeps that record.
    public static func accuracyHighest(set: String, step: Int, _ highest: Double) -> String {
        "[\(set)][\(step)]Accuracy-Highest: " + String(format: "%1.5f", highest)
    }

    /// The XNorm and Accuracy-Flip lines of one report, in insightface's order.
    public static func lines(set: String, step: Int, report: VerificationReport) -> [String] {
        [xNorm(set: set, step: step, report.xNorm),
         accuracyFlip(set: set, step: step, mean: report.accuracyMean,
                      standardDeviation: report.accuracyStandardDeviation)]
    }
}
