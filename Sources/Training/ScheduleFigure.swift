import MHLR
import Plots

/// The picture of a run's schedule: the loss (raw and smoothed), the detector's response with its
/// threshold, and the learning rate on a log axis with every decision marked (beside a logged LR, if any).
/// `haarface replay` draws it for a recorded log, the trainer's report for its own run.
public struct ScheduleFigure {
    public var title: String
    /// (step, loss) as logged or measured.
    public var loss: [(Double, Double)]
    /// (step, LR) as a recorded log reports it.
    public var loggedLR: [(Double, Double)] = []
    public var initialLR: Double
    public var scheduler: AnyScheduler
    public var trace: ScheduleTrace
    public var events: [LearningRateEvent]
    /// More panels below the three, e.g. verification accuracy.
    public var extraPanels: [Panel] = []

    public init(title: String, loss: [(Double, Double)], initialLR: Double, scheduler: AnyScheduler,
                trace: ScheduleTrace, events: [LearningRateEvent]) {
        self.title = title
        self.loss = loss
        self.initialLR = initialLR
        self.scheduler = scheduler
        self.trace = trace
        self.events = events
    }

    public func figure() -> Figure {
        let kind = scheduler.kindName
        let raw = envelope(loss, maxPoints: 3000)
        var lossSeries = [Series(name: "logged loss", x: raw.map(\.0), y: raw.map(\.1), color: Palette.grey, lineWidth: 1)]
        let smoothed = trace.points.compactMap { point in point.smoothedLoss.map { (Double(point.step - 1), $0) } }
        if !smoothed.isEmpty {
            lossSeries.append(Series(name: scheduler.smoothingName ?? "smoothed", x: smoothed.map(\.0), y: smoothed.map(\.1),
                                     color: Palette.blue, lineWidth: 2))
        }
        var panels = [Panel(title: "Training loss", yLabel: "loss", series: lossSeries)]

        let response = trace.points.compactMap { point in point.response.map { (Double(point.step - 1), $0) } }
        if let threshold = scheduler.detectorThreshold, !response.isEmpty {
            // The start-up response is often far above the threshold; fit the axis to the region where
            // decisions are made so that the threshold crossings stay visible.
            let low = min(response.map(\.1).min()!, 0), high = response.map(\.1).max()!
            let ceiling = threshold > 0 ? min(high, max(10 * threshold, low + 1e-12)) : high
            let isMHLR = kind == "mhlr"
            let title = (isMHLR ? "Haar response of the smoothed loss (plateau when below the threshold)"
                : "Double-EMA loss decrease E_t (plateau when below the threshold)")
                + (ceiling < high ? ", clipped at 10x the threshold" : "")
            panels.append(Panel(
                title: title, yLabel: isMHLR ? "H (loss units)" : "E_t (loss units)",
                series: [Series(name: isMHLR ? "Haar response H" : "E_t", x: response.map(\.0), y: response.map(\.1),
                                color: Palette.green)],
                referenceLines: [ReferenceLine(name: "threshold \(threshold)", y: threshold, color: Palette.vermilion)],
                yRange: low ... ceiling))
        }

        var lrPoints = [(1.0, initialLR)] + trace.points.map { (Double($0.step), $0.learningRate) }
        lrPoints += events.map { (Double($0.step), $0.newLR) }
        lrPoints.sort { $0.0 < $1.0 }
        var lrSeries = [Series(name: "LR (\(kind))", x: lrPoints.map(\.0), y: lrPoints.map(\.1),
                               color: Palette.vermilion, style: .step, lineWidth: 2)]
        if !loggedLR.isEmpty {
            let points = envelope(loggedLR, maxPoints: 3000)
            lrSeries[0].name = "replayed LR (\(kind))"
            lrSeries.insert(Series(name: "logged LR", x: points.map(\.0), y: points.map(\.1), color: Palette.black,
                                   style: .dashed, lineWidth: 1.5), at: 0)
        }
        // A closed-form schedule changes the LR every step: mark decisions only where they are events.
        let markers = events.count <= 200
            ? events.map { Marker(x: Double($0.step), direction: $0.change == .down ? .down : .up,
                                  color: $0.change == .down ? Palette.vermilion : Palette.blue) }
            : []
        panels.append(Panel(title: "Learning rate (log scale): \(events.count) changes", yLabel: "learning rate",
                            yScale: .log, series: lrSeries, markers: markers))
        return Figure(title: title, xLabel: "training step", panels: panels + extraPanels)
    }
}

/// At most `maxPoints` points that keep the curve's envelope: the minimum and maximum of each bucket, in order.
public func envelope(_ points: [(Double, Double)], maxPoints: Int) -> [(Double, Double)] {
    guard points.count > maxPoints, maxPoints >= 2 else { return points }
    let bucketSize = (points.count * 2 + maxPoints - 1) / maxPoints
    var out: [(Double, Double)] = []
    var start = 0
    while start < points.count {
        let bucket = points[start ..< min(points.count, start + bucketSize)]
        let low = bucket.min { $0.1 < $1.1 }!, high = bucket.max { $0.1 < $1.1 }!
        if low.0 <= high.0 {
            out.append(low)
            if high.0 != low.0 { out.append(high) }
        } else {
            out.append(high)
            out.append(low)
        }
        start += bucketSize
    }
    return out
}
