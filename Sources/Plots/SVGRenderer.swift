import Foundation

extension Figure {
    private static let margin = (left: 84.0, right: 24.0, top: 64.0, bottom: 56.0)
    private static let gap = 44.0

    /// Height of the whole picture, in SVG user units.
    public var height: Double {
        Self.margin.top + Double(panels.count) * panelHeight + Double(max(0, panels.count - 1)) * Self.gap + Self.margin.bottom
    }

    /// Several figures, each with its own x axis, one below the other in one SVG document.
    public static func stackedSVG(_ figures: [Figure]) -> String {
        let width = figures.map(\.width).max() ?? 0, height = figures.map(\.height).reduce(0, +)
        var svg = SVGWriter()
        svg.open(width: width, height: height)
        var top = 0.0
        for figure in figures {
            svg.raw(figure.svg().replacingOccurrences(of: "<svg ", with: "<svg x=\"0\" y=\"\(top)\" ", options: [.anchored]))
            top += figure.height
        }
        svg.close()
        return svg.output
    }

    /// The figure as a standalone SVG document.
    public func svg() -> String {
        let margin = Self.margin, gap = Self.gap
        let plotWidth = width - margin.left - margin.right
        let xRange = Axis.range(panels.flatMap { $0.series.flatMap(\.x) } + panels.flatMap { $0.markers.map(\.x) })
        let xTicks = Axis.linearTicks(xRange)
        let xAxis = LinearMap(from: (xTicks.first!, xTicks.last!), to: (margin.left, margin.left + plotWidth))

        var svg = SVGWriter()
        svg.open(width: width, height: height)
        svg.text(title, x: width / 2, y: 28, size: 17, anchor: "middle", weight: "bold")
        for (index, panel) in panels.enumerated() {
            let top = margin.top + Double(index) * (panelHeight + gap)
            render(panel, into: &svg, xAxis: xAxis, xTicks: xTicks, top: top,
                   left: margin.left, plotWidth: plotWidth, showXTickLabels: true)
        }
        svg.text(xLabel, x: margin.left + plotWidth / 2, y: height - 14, size: 13, anchor: "middle")
        svg.close()
        return svg.output
    }

    private func render(_ panel: Panel, into svg: inout SVGWriter, xAxis: LinearMap, xTicks: [Double], top: Double,
                        left: Double, plotWidth: Double, showXTickLabels: Bool) {
        let bottom = top + panelHeight
        let values = panel.yRange.map { [$0.lowerBound, $0.upperBound] }
            ?? panel.series.flatMap(\.y) + panel.referenceLines.map(\.y)
        let yAxis: YAxis = panel.yScale == .log
            ? .log(values.filter { $0 > 0 && $0.isFinite }, bottom: bottom, top: top)
            : .linear(values.filter(\.isFinite), bottom: bottom, top: top)

        svg.text(panel.title, x: left, y: top - 8, size: 13, anchor: "start", weight: "bold")
        svg.rect(x: left, y: top, width: plotWidth, height: panelHeight, stroke: "#BBBBBB", fill: "#FFFFFF")
        for tick in yAxis.ticks {
            let y = yAxis.position(tick)
            svg.line(x1: left, y1: y, x2: left + plotWidth, y2: y, stroke: "#E6E6E6", width: 1)
            svg.text(Axis.label(tick), x: left - 6, y: y + 4, size: 11, anchor: "end")
        }
        for tick in xTicks {
            let x = xAxis.apply(tick)
            svg.line(x1: x, y1: top, x2: x, y2: bottom, stroke: "#EEEEEE", width: 1)
            if showXTickLabels { svg.text(Axis.label(tick), x: x, y: bottom + 15, size: 11, anchor: "middle") }
        }
        svg.verticalText(panel.yLabel, x: left - 62, y: top + panelHeight / 2, size: 12)

        svg.clip(id: "panel\(Int(top))", x: left, y: top, width: plotWidth, height: panelHeight)
        for line in panel.referenceLines {
            let y = yAxis.position(line.y)
            svg.line(x1: left, y1: y, x2: left + plotWidth, y2: y, stroke: line.color, width: 1.2, dash: "6 4")
        }
        for marker in panel.markers {
            let x = xAxis.apply(marker.x)
            svg.line(x1: x, y1: top, x2: x, y2: bottom, stroke: marker.color, width: 1, dash: "2 3", opacity: 0.7)
            svg.triangle(x: x, y: marker.direction == .down ? top + 9 : bottom - 9,
                         pointingDown: marker.direction == .down, fill: marker.color)
        }
        for series in panel.series {
            svg.polyline(points(of: series, xAxis: xAxis, yAxis: yAxis), stroke: series.color,
                         width: series.lineWidth, dash: series.style.isDashed ? "5 3" : nil,
                         clipID: "panel\(Int(top))")
        }
        svg.endClip()
        renderLegend(panel, into: &svg, right: left + plotWidth, top: top)
    }

    private func points(of series: Series, xAxis: LinearMap, yAxis: YAxis) -> [(Double, Double)] {
        var out: [(Double, Double)] = []
        out.reserveCapacity(series.x.count * (series.style.holdsValues ? 2 : 1))
        var previousY: Double?
        for (x, y) in zip(series.x, series.y) where y.isFinite && (yAxis.isLog ? y > 0 : true) {
            let px = xAxis.apply(x), py = yAxis.position(y)
            if series.style.holdsValues, let previousY { out.append((px, previousY)) }
            out.append((px, py))
            previousY = py
        }
        return out
    }

    private func renderLegend(_ panel: Panel, into svg: inout SVGWriter, right: Double, top: Double) {
        var entries: [(String, String, String?)] = panel.series.map {
            ($0.name, $0.color, $0.style.isDashed ? "5 3" : nil)
        }
        entries += panel.referenceLines.map { ($0.name, $0.color, "6 4") }
        guard !entries.isEmpty else { return }
        let rowHeight = 16.0
        let boxWidth = 12 + 28 + 6.6 * Double(entries.map(\.0.count).max()!) + 10
        let x = right - boxWidth - 8, y = top + 8
        svg.rect(x: x, y: y, width: boxWidth, height: rowHeight * Double(entries.count) + 8,
                 stroke: "#CCCCCC", fill: "#FFFFFF", opacity: 0.9)
        for (row, entry) in entries.enumerated() {
            let rowY = y + 12 + rowHeight * Double(row)
            svg.line(x1: x + 8, y1: rowY, x2: x + 32, y2: rowY, stroke: entry.1, width: 2, dash: entry.2)
            svg.text(entry.0, x: x + 38, y: rowY + 4, size: 11, anchor: "start")
        }
    }
}

/// An affine map from data values to picture coordinates; `to` may run backwards (SVG's y grows downwards).
struct LinearMap {
    var from: (start: Double, end: Double)
    var to: (start: Double, end: Double)

    func apply(_ value: Double) -> Double {
        let span = from.end - from.start
        guard span != 0 else { return (to.start + to.end) / 2 }
        return to.start + (value - from.start) / span * (to.end - to.start)
    }
}

/// A panel's y axis: where a value goes and which ticks to draw.
struct YAxis {
    var ticks: [Double]
    var isLog: Bool
    private var map: LinearMap

    static func linear(_ values: [Double], bottom: Double, top: Double) -> YAxis {
        let ticks = Axis.linearTicks(Axis.range(values))
        return YAxis(ticks: ticks, isLog: false, map: LinearMap(from: (ticks.first!, ticks.last!), to: (bottom, top)))
    }

    static func log(_ values: [Double], bottom: Double, top: Double) -> YAxis {
        let range = values.isEmpty ? 1.0 ... 10.0 : values.min()! ... values.max()!
        var low = Foundation.floor(Foundation.log10(range.lowerBound))
        var high = Foundation.ceil(Foundation.log10(range.upperBound))
        if high <= low { low -= 0.5; high += 0.5 }
        let decades = Int(high - low)
        var ticks: [Double] = []
        for exponent in Int(Foundation.floor(low)) ... Int(Foundation.ceil(high)) {
            let base = Foundation.pow(10, Double(exponent))
            for multiple in decades <= 2 ? [1.0, 2, 5] : [1.0] {
                let tick = base * multiple
                if Foundation.log10(tick) >= low - 1e-9 && Foundation.log10(tick) <= high + 1e-9 { ticks.append(tick) }
            }
        }
        return YAxis(ticks: ticks, isLog: true, map: LinearMap(from: (low, high), to: (bottom, top)))
    }

    func position(_ value: Double) -> Double {
        isLog ? map.apply(Foundation.log10(value)) : map.apply(value)
    }
}

enum Axis {
    static func range(_ values: [Double]) -> ClosedRange<Double> {
        let finite = values.filter(\.isFinite)
        guard let low = finite.min(), let high = finite.max() else { return 0 ... 1 }
        if low == high { return (low - max(1, abs(low) * 0.1)) ... (high + max(1, abs(high) * 0.1)) }
        return low ... high
    }

    /// About five ticks at 1, 2 or 5 times a power of ten, covering the range.
    static func linearTicks(_ range: ClosedRange<Double>) -> [Double] {
        let rough = (range.upperBound - range.lowerBound) / 5
        let magnitude = Foundation.pow(10, Foundation.floor(Foundation.log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let first = Foundation.floor(range.lowerBound / step) * step
        let last = Foundation.ceil(range.upperBound / step) * step
        return stride(from: first, through: last + step / 2, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    /// A short label: 20000 -> "20k", 0.0005 -> "5e-4", 0.25 -> "0.25".
    static func label(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude == 0 { return "0" }
        if magnitude >= 1e6, value.truncatingRemainder(dividingBy: 1e5) == 0 { return trim(value / 1e6) + "M" }
        if magnitude >= 1e3, value.truncatingRemainder(dividingBy: 100) == 0 { return trim(value / 1e3) + "k" }
        if magnitude < 1e-2 {
            let exponent = Int(Foundation.floor(Foundation.log10(magnitude) + 1e-9))
            return trim(value / Foundation.pow(10, Double(exponent))) + "e\(exponent)"
        }
        return trim(value)
    }

    private static func trim(_ value: Double) -> String {
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
