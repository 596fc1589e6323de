import Foundation

/// A figure of panels stacked vertically that share one x axis (training steps, say), rendered as SVG.
///
/// Small on purpose: line and step series, linear or log y axes, horizontal reference lines, event markers
/// and a legend per panel: what training curves and scheduler decisions need, readable at a glance.
public struct Figure: Sendable {
    public var title: String
    public var xLabel: String
    public var panels: [Panel]
    /// Width of the whole picture and height of each panel, in SVG user units (pixels).
    public var width: Double = 960
    public var panelHeight: Double = 240

    public init(title: String, xLabel: String, panels: [Panel]) {
        self.title = title
        self.xLabel = xLabel
        self.panels = panels
    }
}

public struct Panel: Sendable {
    public enum Scale: Sendable { case linear, log }

    public var title: String
    public var yLabel: String
    public var yScale: Scale
    public var series: [Series]
    public var referenceLines: [ReferenceLine]
    public var markers: [Marker]
    /// Fixes the y range instead of fitting every value: values outside it are clipped at the panel's edge.
    public var yRange: ClosedRange<Double>?

    public init(title: String, yLabel: String, yScale: Scale = .linear, series: [Series],
                referenceLines: [ReferenceLine] = [], markers: [Marker] = [], yRange: ClosedRange<Double>? = nil) {
        self.title = title
        self.yLabel = yLabel
        self.yScale = yScale
        self.series = series
        self.referenceLines = referenceLines
        self.markers = markers
        self.yRange = yRange
    }
}

public struct Series: Sendable {
    public enum Style: Sendable {
        /// Straight segments between points.
        case line
        /// Holds each value until the next x: for piecewise-constant values such as a learning rate.
        case step
        /// Straight dashed segments.
        case dashed
        /// `step`, dashed.
        case dashedStep

        var holdsValues: Bool { self == .step || self == .dashedStep }
        var isDashed: Bool { self == .dashed || self == .dashedStep }
    }

    public var name: String
    public var x: [Double]
    public var y: [Double]
    public var color: String
    public var style: Style
    public var lineWidth: Double

    public init(name: String, x: [Double], y: [Double], color: String, style: Style = .line, lineWidth: Double = 1.5) {
        precondition(x.count == y.count, "series \(name): \(x.count) x values but \(y.count) y values")
        self.name = name
        self.x = x
        self.y = y
        self.color = color
        self.style = style
        self.lineWidth = lineWidth
    }
}

/// A horizontal line across a panel, e.g. a detector's threshold.
public struct ReferenceLine: Sendable {
    public var name: String
    public var y: Double
    public var color: String

    public init(name: String, y: Double, color: String) {
        self.name = name
        self.y = y
        self.color = color
    }
}

/// A vertical mark at one x: a scheduler decision, say.
public struct Marker: Sendable {
    public enum Direction: Sendable { case down, up }

    public var x: Double
    public var direction: Direction
    public var color: String

    public init(x: Double, direction: Direction, color: String) {
        self.x = x
        self.direction = direction
        self.color = color
    }
}

/// Colours that stay apart for readers with the common colour-vision deficiencies (Okabe and Ito).
public enum Palette {
    public static let blue = "#0072B2"
    public static let orange = "#E69F00"
    public static let green = "#009E73"
    public static let vermilion = "#D55E00"
    public static let purple = "#CC79A7"
    public static let sky = "#56B4E9"
    public static let grey = "#7F7F7F"
    public static let black = "#222222"

    /// The colours of one figure's series, in order; past the last they come round again (dashed, by the callers).
    public static let series = [black, vermilion, blue, green, orange, purple, sky, grey]
}
