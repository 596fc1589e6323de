import XCTest
@testable import Engine

/// Head and loss ops against PyTorch 1.13 (scripts/reference/engine_fixtures.py). These are a few float32
/// operations per element (row sums of at most 7 terms): rtol 1e-5 and atol 1e-6 are ~100 float32 ulps.
final class MathTests: XCTestCase {
    let rtol: Float = 1e-5, atol: Float = 1e-6

    func checkUnary(_ name: String, rtol: Float? = nil, _ op: (Tensor) throws -> Tensor) throws {
        let f = try Fixture(name)
        let x = f.tensor("input", requiresGrad: true)
        let y = try op(x)
        XCTAssertEqual(y.shape, f.shape("output"))
        assertClose(try y.values(), f.values("output"), rtol: rtol ?? self.rtol, atol: atol, "\(name) output")
        try backward(y, f)
        assertClose(try x.grad!.values(), f.values("grad_input"), rtol: rtol ?? self.rtol, atol: atol, "\(name) grad")
    }

    func testNormalizeRows() throws { try checkUnary("normalize_rows") { try $0.normalizedRows() } }
    func testClamp() throws { try checkUnary("clamp") { try $0.clamped(min: -0.5, max: 0.7) } }
    // acos' derivative 1/sqrt(1 - x^2) amplifies the input's rounding near |x| = 0.9 by ~5: rtol 5e-5.
    func testAcos() throws { try checkUnary("acos", rtol: 5e-5) { try $0.acos() } }
    func testCos() throws { try checkUnary("cos") { try $0.cos() } }
    func testLogSoftmax() throws { try checkUnary("log_softmax") { try $0.logSoftmax() } }
    func testSum() throws { try checkUnary("sum") { try $0.sum() } }
    func testMean() throws { try checkUnary("mean") { try $0.mean() } }
    func testSumRows() throws { try checkUnary("sum_rows") { try $0.sum(axis: 1) } }

    func indices(_ f: Fixture) -> [Int] { f.values("indices").map { Int($0) } }

    func testGatherColumns() throws {
        let f = try Fixture("gather_columns")
        try checkUnary("gather_columns") { try $0.gather(columns: indices(f)) }
    }

    func testGatherRows() throws {
        let f = try Fixture("gather_rows")
        try checkUnary("gather_rows") { try $0.gatherRows(indices(f)) }
    }

    func testScatterColumns() throws {
        let f = try Fixture("scatter_columns")
        let x = f.tensor("input", requiresGrad: true), v = f.tensor("values", requiresGrad: true)
        let y = try x.scatter(columns: indices(f), values: v)
        assertClose(try y.values(), f.values("output"), rtol: rtol, atol: atol, "scatter output")
        try backward(y, f)
        assertClose(try x.grad!.values(), f.values("grad_input"), rtol: rtol, atol: atol, "scatter grad input")
        assertClose(try v.grad!.values(), f.values("grad_values"), rtol: rtol, atol: atol, "scatter grad values")
    }

    func testMatmul() throws {
        for (name, transposed) in [("matmul", false), ("matmul_transposed", true)] {
            let f = try Fixture(name)
            let a = f.tensor("a", requiresGrad: true), b = f.tensor("b", requiresGrad: true)
            let y = try matmul(a, b, transposeB: transposed)
            assertClose(try y.values(), f.values("output"), rtol: rtol, atol: atol, "\(name) output")
            try backward(y, f)
            assertClose(try a.grad!.values(), f.values("grad_a"), rtol: rtol, atol: atol, "\(name) grad a")
            assertClose(try b.grad!.values(), f.values("grad_b"), rtol: rtol, atol: atol, "\(name) grad b")
        }
    }

    func testCrossEntropy() throws {
        let f = try Fixture("cross_entropy")
        let x = f.tensor("input", requiresGrad: true)
        let loss = try crossEntropy(x, labels: f.values("labels").map { Int($0) })
        assertClose(try loss.values(), f.values("output"), rtol: rtol, atol: atol, "cross entropy")
        try loss.backward()
        assertClose(try x.grad!.values(), f.values("grad_input"), rtol: rtol, atol: atol, "cross entropy grad")
    }

    func testGatherWithMissingLabelGivesZeroAndNoGradient() throws {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6], requiresGrad: true)
        let y = try x.gather(columns: [2, -1])
        XCTAssertEqual(try y.values(), [3, 0])
        try y.sum().backward()
        XCTAssertEqual(try x.grad!.values(), [0, 0, 1, 0, 0, 0])
    }

    /// Analytic: y = x with rows 2 and 0 replaced; d sum(y * w) / dx is w with those rows zeroed and
    /// d/drows is w's rows 2 and 0.
    func testScatterRows() throws {
        let x = Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6], requiresGrad: true)
        let rows = Tensor(shape: [2, 2], values: [10, 20, 30, 40], requiresGrad: true)
        let y = try x.scatterRows([2, 0], rows)
        XCTAssertEqual(try y.values(), [30, 40, 3, 4, 10, 20])
        try y.backward(gradient: Tensor(shape: [3, 2], values: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
        XCTAssertEqual(try x.grad!.values(), [0, 0, 0.3, 0.4, 0, 0])
        XCTAssertEqual(try rows.grad!.values(), [0.5, 0.6, 0.1, 0.2])
        XCTAssertThrowsError(try x.scatterRows([1, 1], rows), "repeated rows are ambiguous")
    }

    func testBadLabelsAreRejected() {
        let x = Tensor.zeros([2, 3])
        XCTAssertThrowsError(try crossEntropy(x, labels: [0, 3]))
    }
}
