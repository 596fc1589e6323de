/// A running sum kept as an unevaluated pair `high + low` (Knuth's TwoSum after every update).
///
/// Adding and later subtracting the same values leaves an error of order eps^2 per update instead of eps,
/// so a window sum updated 10^9 times still agrees with a fresh summation of the window to ~1 ulp.
struct CompensatedSum: Codable, Equatable, Sendable {
    private(set) var high = 0.0
    private(set) var low = 0.0

    /// The sum rounded to one double.
    var value: Double { high + low }

    @inline(__always)
    mutating func add(_ x: Double) {
        // TwoSum: s + e == high + x exactly (no branch, valid for any ordering of magnitudes).
        let s = high + x
        let xVirtual = s - high
        let highVirtual = s - xVirtual
        let e = (high - highVirtual) + (x - xVirtual)
        high = s
        low += e
    }

    /// Moves the value of `outgoing` out and `incoming` in, as one window slide.
    @inline(__always)
    mutating func slide(adding incoming: Double, removing outgoing: Double) {
        add(incoming)
        add(-outgoing)
    }
}
