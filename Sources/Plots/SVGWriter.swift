import Foundation

/// Appends SVG elements to a string; coordinates are rounded to 0.1 to keep files small.
struct SVGWriter {
    private(set) var output = ""

    mutating func open(width: Double, height: Double) {
        output += ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(n(width))" height="\##(n(height))" "##
            + ##"viewBox="0 0 \##(n(width)) \##(n(height))" font-family="Helvetica, Arial, sans-serif">"## + "\n"
        output += ##"<rect width="100%" height="100%" fill="#FAFAFA"/>"## + "\n"
    }

    mutating func close() { output += "</svg>\n" }

    /// Appends finished SVG markup (a nested figure).
    mutating func raw(_ markup: String) { output += markup }

    mutating func text(_ text: String, x: Double, y: Double, size: Double, anchor: String, weight: String = "normal") {
        output += ##"<text x="\##(n(x))" y="\##(n(y))" font-size="\##(n(size))" text-anchor="\##(anchor)" "##
            + ##"font-weight="\##(weight)" fill="#222">\##(escape(text))</text>"## + "\n"
    }

    mutating func verticalText(_ text: String, x: Double, y: Double, size: Double) {
        output += ##"<text x="\##(n(x))" y="\##(n(y))" font-size="\##(n(size))" text-anchor="middle" fill="#222" "##
            + ##"transform="rotate(-90 \##(n(x)) \##(n(y)))">\##(escape(text))</text>"## + "\n"
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, stroke: String, fill: String,
                       opacity: Double = 1) {
        output += ##"<rect x="\##(n(x))" y="\##(n(y))" width="\##(n(width))" height="\##(n(height))" "##
            + ##"stroke="\##(stroke)" fill="\##(fill)" fill-opacity="\##(n(opacity))"/>"## + "\n"
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double,
                       dash: String? = nil, opacity: Double = 1) {
        output += ##"<line x1="\##(n(x1))" y1="\##(n(y1))" x2="\##(n(x2))" y2="\##(n(y2))" stroke="\##(stroke)" "##
            + ##"stroke-width="\##(n(width))"\##(dashAttribute(dash)) stroke-opacity="\##(n(opacity))"/>"## + "\n"
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double, dash: String?, clipID: String) {
        guard points.count > 1 else { return }
        output += ##"<polyline fill="none" stroke="\##(stroke)" stroke-width="\##(n(width))"\##(dashAttribute(dash)) "##
            + ##"stroke-linejoin="round" points=""##
        for (index, point) in points.enumerated() {
            if index > 0 { output += " " }
            output += n(point.0) + "," + n(point.1)
        }
        output += "\"/>\n"
    }

    mutating func triangle(x: Double, y: Double, pointingDown: Bool, fill: String) {
        let tip = pointingDown ? y + 6 : y - 6, base = pointingDown ? y - 6 : y + 6
        output += ##"<polygon points="\##(n(x - 6)),\##(n(base)) \##(n(x + 6)),\##(n(base)) \##(n(x)),\##(n(tip))" "##
            + ##"fill="\##(fill)"/>"## + "\n"
    }

    mutating func clip(id: String, x: Double, y: Double, width: Double, height: Double) {
        output += ##"<clipPath id="\##(id)"><rect x="\##(n(x))" y="\##(n(y))" width="\##(n(width))" "##
            + ##"height="\##(n(height))"/></clipPath><g clip-path="url(#\##(id))">"## + "\n"
    }

    mutating func endClip() { output += "</g>\n" }

    private func dashAttribute(_ dash: String?) -> String {
        dash.map { ##" stroke-dasharray="\##($0)""## } ?? ""
    }

    private func n(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
