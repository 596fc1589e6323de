import MHLR
import Plots

extension ReplayRun {
    /// Three panels over the steps: the loss (raw and smoothed), the detector's response with its threshold,
    /// and the learning rate on a log axis with every decision marked (beside the logged LR, if any).
    func figure(kind: SchedulerKind, logName: String) -> Figure {
        let raw = envelope(log.entries.map { (Double($0.step), $0.loss) }, maxPoints: 3000)
        var lossSeries = [Series(name: "logged loss", x: raw.map(\.0), y: raw.map(\.1), color: Palette.grey, lineWidth: 1)]
        let smoothed = trace.compactMap { point in point.smoothedLoss.map { (Double(point.step - 1), $0) } }
        if !smoothed.isEmpty {
            let name = recorder.scheduler.smoothingName ?? "smoothed"
            lossSeries.append(Series(name: name, x: smoothed.map(\.0), y: smoothed.map(\.1), color: Palette.blue, lineWidth: 2))
        }
        var panels = [Panel(title: "Training loss", yLabel: "loss", series: lossSeries)]

        let response = trace.compactMap { point in point.response.map { (Double(point.step - 1), $0) } }
        if let threshold = recorder.scheduler.detectorThreshold, !response.isEmpty {
            // The start-up response is often far above the threshold; fit the axis to the region where
            // decisions are made so that the threshold crossings stay visible.
            let low = min(response.map(\.1).min()!, 0), high = response.map(\.1).max()!
            let ceiling = threshold > 0 ? min(high, max(10 * threshold, low + 1e-12)) : high
            let clipped = ceiling < high
            let title = (kind == .mhlr ? "Haar response of the smoothed loss (plateau when below the threshold)"
                : "Double-EMA loss decrease E_t (plateau when below the threshold)")
                + (clipped ? ", clipped at 10x the threshold" : "")
            panels.append(Panel(
                title: title, yLabel: kind == .mhlr ? "H (loss units)" : "E_t (loss units)",
                series: [Series(name: kind == .mhlr ? "Haar response H" : "E_t",
                                x: response.map(\.0), y: response.map(\.1), color: Palette.green)],
                referenceLines: [ReferenceLine(name: "threshold \(threshold)", y: threshold, color: Palette.vermilion)],
                yRange: low ... ceiling))
        }

        var lrX = [1.0], lrY = [initialLR]
        for point in trace { lrX.append(Double(point.step)); lrY.append(point.learningRate) }
        for event in recorder.events { lrX.append(Double(event.step)); lrY.append(event.newLR) }
        let order = lrX.indices.sorted { lrX[$0] < lrX[$1] }
        var lrSeries = [Series(name: "replayed LR (\(kind.rawValue))", x: order.map { lrX[$0] }, y: order.map { lrY[$0] },
                               color: Palette.vermilion, style: .step, lineWidth: 2)]
        let logged = log.entries.compactMap { entry in entry.learningRate.map { (Double(entry.step), $0) } }
        if !logged.isEmpty {
            let points = envelope(logged, maxPoints: 3000)
            lrSeries.insert(Series(name: "logged LR", x: points.map(\.0), y: points.map(\.1), color: Palette.black,
                                   style: .dashed, lineWidth: 1.5), at: 0)
        }
        // A closed-form schedule changes the LR every step: mark decisions only where they are events.
        let markers = recorder.events.count <= 200
            ? recorder.events.map { Marker(x: Double($0.step), direction: $0.change == .down ? .down : .up,
                                           color: $0.change == .down ? Palette.vermilion : Palette.blue) }
            : []
        panels.append(Panel(title: "Learning rate (log scale): \(recorder.events.count) changes",
                            yLabel: "learning rate", yScale: .log, series: lrSeries, markers: markers))

        return Figure(title: "haarface replay of \(logName) through \(kind.rawValue): \(log.lastStep) steps",
                      xLabel: "training step", panels: panels)
    }
}

/// At most `maxPoints` points that keep the curve's envelope: the minimum and maximum of each bucket, in order.
func envelope(_ points: [(Double, Double)], maxPoints: Int) -> [(Double, Double)] {
    guard points.count > maxPoints, maxPoints >= 2 else { return points }
    let bucketSize = (points.count * 2 + maxPoints - 1) / maxPoints
    var out: [(Double, Double)] = []
    var start = 0
    while start < points.count {
        let bucket = points[start ..< min(points.count, start + bucketSize)]
        let low = bucket.min { $0.1 < $1.1 }!, high = bucket.max { $0.1 < $1.1 }!
        if low.0 <= high.0 { out.append(low); if high.0 != low.0 { out.append(high) } }
        else { out.append(high); out.append(low) }
        start += bucketSize
    }
    return out
}

extension AnyScheduler {
    var detectorThreshold: Double? {
        switch self {
        case .mhlr(let scheduler): return scheduler.configuration.threshold
        case .fastFace(let scheduler): return scheduler.configuration.threshold
        default: return nil
        }
    }

    var smoothingName: String? {
        guard case .mhlr(let scheduler) = self else { return nil }
        switch scheduler.configuration.smoothing {
        case .box: return "box average (\(scheduler.configuration.windowSteps) steps)"
        case .exponential(let alpha): return "EMA (alpha \(alpha))"
        }
    }
}
