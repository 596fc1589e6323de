import XCTest
@testable import Engine

/// Elementwise arithmetic with a broadcast right operand against PyTorch 1.13
/// (scripts/reference/engine_fixtures.py). A handful of float32 operations per element: rtol 1e-5,
/// atol 1e-6 (the broadcast operand's gradient sums 8 terms).
final class BinaryTests: XCTestCase {
    func check(_ name: String, _ op: (Tensor, Tensor) throws -> Tensor) throws {
        let f = try Fixture("binary_" + name)
        let a = f.tensor("a", requiresGrad: true), b = f.tensor("b", requiresGrad: true)
        let y = try op(a, b)
        assertClose(try y.values(), f.values("output"), rtol: 1e-5, atol: 1e-6, "\(name) output")
        try backward(y, f)
        assertClose(try a.grad!.values(), f.values("grad_a"), rtol: 1e-5, atol: 1e-6, "\(name) grad a")
        assertClose(try b.grad!.values(), f.values("grad_b"), rtol: 1e-5, atol: 1e-6, "\(name) grad b")
    }

    func testAdd() throws { try check("add", +) }
    func testSubtract() throws { try check("subtract", -) }
    func testMultiply() throws { try check("multiply", *) }
    func testDivide() throws { try check("divide", /) }

    /// The residual add of two blocked activations.
    func testResidualAdd() throws {
        let f = try Fixture("add_residual")
        let w = Tensor(shape: [16, 16, 1, 1], values: (0..<256).map { $0 % 17 == 0 ? 1 : 0 })
        // Route both operands through an identity 1x1 conv so they arrive in the blocked layout.
        let a = f.tensor("a", requiresGrad: true), b = f.tensor("b", requiresGrad: true)
        let y = try conv2d(a, weight: w) + conv2d(b, weight: w)
        XCTAssertFalse(y.isPlain)
        assertClose(try y.values(), f.values("output"), rtol: 1e-6, atol: 1e-6, "residual add")
        try backward(y, f)
        assertClose(try a.grad!.values(), f.values("grad_a"), rtol: 1e-6, atol: 1e-6, "residual grad a")
        assertClose(try b.grad!.values(), f.values("grad_b"), rtol: 1e-6, atol: 1e-6, "residual grad b")
    }
}
