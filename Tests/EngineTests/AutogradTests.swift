import Randomness
import XCTest
@testable import Engine

final class AutogradTests: XCTestCase {
    /// Analytic case: loss = sum(a * b + a) so dloss/da = b + 1 and dloss/db = a (a used twice: the two
    /// gradients of `a` must be summed).
    func testSharedInputGradientsAddUp() throws {
        let a = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6], requiresGrad: true)
        let b = Tensor(shape: [2, 3], values: [0.5, -1, 2, 0, 3, -2], requiresGrad: true)
        let loss = try (a * b + a).sum()
        // sum(a * b) = 0.5 - 2 + 6 + 0 + 15 - 12 = 7.5; sum(a) = 21
        XCTAssertEqual(try loss.item(), 28.5, accuracy: 1e-5)
        try loss.backward()
        XCTAssertEqual(try a.grad!.values(), [1.5, 0, 3, 1, 4, -1])
        XCTAssertEqual(try b.grad!.values(), [1, 2, 3, 4, 5, 6])
    }

    /// The observer of a backward pass hears of each leaf once, when its gradient is complete: `a` (used by
    /// the first and the last op) only after the last op, `c` (only in the last op) before `a`; `b` feeds an
    /// op whose result gets no gradient (multiplied into a constant branch that is cut) and is still told.
    func testObserverHearsOfEachLeafWhenItsGradientIsComplete() throws {
        final class Recorder: BackwardObserver {
            var finals: [(name: String, gradient: [Float]?)] = []
            var ops = 0
            let names: [ObjectIdentifier: String]
            init(_ names: [ObjectIdentifier: String]) { self.names = names }
            func gradientIsFinal(for leaf: Tensor) throws {
                finals.append((names[ObjectIdentifier(leaf)]!, try leaf.grad?.values()))
            }
            func opIsDone() throws { ops += 1 }
        }
        let a = Tensor(shape: [3], values: [1, 2, 3], requiresGrad: true)
        let b = Tensor(shape: [3], values: [4, 5, 6], requiresGrad: true)
        let c = Tensor(shape: [3], values: [-1, 0.5, 2], requiresGrad: true)
        let first = try a.scaled(by: 2)                 // op 1 (uses a)
        _ = try b.scaled(by: 3)                         // not on the loss's path: never visited
        let second = try first * c                      // op 2 (uses c)
        let loss = try (second + a).sum()               // ops 3 (uses a) and 4
        let recorder = Recorder([ObjectIdentifier(a): "a", ObjectIdentifier(b): "b", ObjectIdentifier(c): "c"])
        try loss.backward(observer: recorder)
        // d/da = 2c + 1, d/dc = 2a
        XCTAssertEqual(recorder.finals.map(\.name), ["c", "a"])
        XCTAssertEqual(recorder.finals[0].gradient, [2, 4, 6])
        XCTAssertEqual(recorder.finals[1].gradient, [-1, 2, 5], "a is told only once both of its gradients are in")
        XCTAssertEqual(recorder.ops, 4)
        XCTAssertNil(b.grad)
    }

    /// A leaf reached only through an op that receives no gradient is still told (with no gradient).
    func testObserverHearsOfLeavesOnPathsWithoutGradient() throws {
        final class Recorder: BackwardObserver {
            var finals: [ObjectIdentifier] = []
            func gradientIsFinal(for leaf: Tensor) throws { finals.append(ObjectIdentifier(leaf)) }
            func opIsDone() throws {}
        }
        let a = Tensor(shape: [2], values: [1, 2], requiresGrad: true)
        let b = Tensor(shape: [2], values: [3, 4], requiresGrad: true)
        // A custom op that passes no gradient to its second input's producer.
        let scaledB = try b.scaled(by: 2)
        let output = Tensor.recording(Tensor(shape: [2], values: [1, 2]), name: "first only", inputs: [a, scaledB]) {
            [$0, nil]
        }
        let recorder = Recorder()
        try output.sum().backward(observer: recorder)
        XCTAssertEqual(Set(recorder.finals), [ObjectIdentifier(a), ObjectIdentifier(b)])
        XCTAssertEqual(recorder.finals.count, 2)
        XCTAssertNil(b.grad)
        XCTAssertEqual(try a.grad!.values(), [1, 1])
    }

    /// Two backward passes add their gradients (gradient accumulation) until zeroGrad().
    func testGradientsAccumulateUntilZeroed() throws {
        let w = Parameter(name: "w", shape: [3], values: [1, 2, 3])
        for _ in 0..<2 {
            let loss = try w.tensor.scaled(by: 2).sum()   // d/dw = 2
            try loss.backward()
        }
        XCTAssertEqual(try w.grad!.values(), [4, 4, 4])
        w.zeroGrad()
        XCTAssertNil(w.grad)
        try w.tensor.scaled(by: 3).sum().backward()
        XCTAssertEqual(try w.grad!.values(), [3, 3, 3])
    }

    func testNothingIsRecordedWithoutGradients() throws {
        let x = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        let y = try (x * x).sum()
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.node)
        XCTAssertThrowsError(try y.backward())
    }

    func testFrozenParameterGetsNoGradient() throws {
        let frozen = Parameter(name: "features.weight", shape: [2], values: [1, 1], isTrainable: false)
        let x = Tensor(shape: [2], values: [3, 4], requiresGrad: true)
        try (x * frozen.tensor).sum().backward()
        XCTAssertNil(frozen.grad)
        XCTAssertEqual(try x.grad!.values(), [1, 1])
    }

    func testSecondBackwardThroughFreedGraphThrows() throws {
        let x = Tensor(shape: [2], values: [3, 4], requiresGrad: true)
        let loss = try (x * x).sum()
        try loss.backward()
        XCTAssertThrowsError(try loss.backward())
    }

    /// A primitive is created once per shape and reused.
    func testPrimitivesAreCachedPerShape() throws {
        let x = Tensor(shape: [1, 16, 5, 5], repeating: 1)
        let w = Tensor(shape: [16, 16, 3, 3], repeating: 0.01)
        _ = try conv2d(x, weight: w, padding: 1)
        let cached = PrimitiveCache.shared.count
        _ = try conv2d(x, weight: w, padding: 1)
        XCTAssertEqual(PrimitiveCache.shared.count, cached)
    }

    /// Blocked activations read back in PyTorch's NCHW order: a 1x1 identity convolution preserves values.
    func testBlockedValuesReadBackInNCHWOrder() throws {
        let values = (0..<(2 * 16 * 3 * 3)).map { Float($0) }
        let x = Tensor(shape: [2, 16, 3, 3], values: values)
        var identity = [Float](repeating: 0, count: 16 * 16)
        for c in 0..<16 { identity[c * 16 + c] = 1 }
        let y = try conv2d(x, weight: Tensor(shape: [16, 16, 1, 1], values: identity))
        XCTAssertFalse(y.isPlain, "conv output is blocked: \(y.layoutDescription)")
        XCTAssertEqual(try y.values(), values)
        XCTAssertEqual(try y.flattened().values(), values)
    }

    func testConvRejectsMismatchedShapes() {
        let x = Tensor(shape: [1, 3, 5, 5], repeating: 1)
        let w = Tensor(shape: [8, 4, 3, 3], repeating: 1)
        XCTAssertThrowsError(try conv2d(x, weight: w)) { error in
            XCTAssertTrue("\(error)".contains("[8, 4, 3, 3]"), "\(error)")
        }
    }
}

final class DropoutTests: XCTestCase {
    /// Inverted dropout: each element is 0 or x / (1 - p); the gradient is the same mask times the
    /// upstream gradient (here 1 via sum), so grad[i] = y[i] / x[i] elementwise.
    func testDropoutMaskAndGradient() throws {
        var generator = SplitMix64(state: 7)
        let values = (1...400).map { Float($0) }
        let x = Tensor(shape: [4, 100], values: values, requiresGrad: true)
        let y = try dropout(x, probability: 0.25, training: true, generator: &generator)
        let out = try y.values()
        let dropped = out.filter { $0 == 0 }.count
        XCTAssertTrue((60...140).contains(dropped), "about 100 of 400 dropped, got \(dropped)")   // binomial sd 8.7
        for (o, v) in zip(out, values) where o != 0 { XCTAssertEqual(o, v / 0.75, accuracy: 1e-3) }
        try y.sum().backward()
        let grad = try x.grad!.values()
        for i in 0..<400 { XCTAssertEqual(grad[i], out[i] / values[i], accuracy: 1e-6) }
    }

    func testDropoutIsIdentityInEvaluationAndAtZero() throws {
        var generator = SplitMix64(state: 7)
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        XCTAssertTrue(try dropout(x, probability: 0.5, training: false, generator: &generator) === x)
        XCTAssertTrue(try dropout(x, probability: 0, training: true, generator: &generator) === x)
        XCTAssertThrowsError(try dropout(x, probability: 1, training: true, generator: &generator))
    }
}

final class SharedGradientTests: XCTestCase {
    /// y = a + b hands one gradient tensor to both leaves; writing into one parameter's gradient (gradient
    /// clipping) must not change the other's, and a second backward must not add into a shared buffer twice.
    func testSharedGradientIsCopiedBeforeWriting() throws {
        let a = Parameter(name: "a", shape: [2], values: [1, 2]), b = Parameter(name: "b", shape: [2], values: [3, 4])
        try (a.tensor + b.tensor).backward(gradient: Tensor(shape: [2], values: [1, 1]))
        a.withUnsafeMutableGrad { grad in for i in 0..<grad.count { grad[i] *= 0.5 } }
        XCTAssertEqual(try a.grad!.values(), [0.5, 0.5])
        XCTAssertEqual(try b.grad!.values(), [1, 1])
        try (a.tensor + b.tensor).backward(gradient: Tensor(shape: [2], values: [1, 1]))
        XCTAssertEqual(try a.grad!.values(), [1.5, 1.5])
        XCTAssertEqual(try b.grad!.values(), [2, 2])
    }
}
