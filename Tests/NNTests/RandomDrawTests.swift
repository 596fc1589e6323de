import Engine
import Foundation
import Randomness
import XCTest
@testable import NN

/// Initial weights and dropout masks come from the project's own draws (SplitMix64's `normal`, `uniform`,
/// `unitIntervalFloat`), not the standard library's `random(in:using:)`, whose algorithm belongs to the
/// toolchain. Expected values: scripts/reference/init_random.py (written from Vigna's splitmix64.c and the
/// draws' definitions, float32 where the Swift is float32), so a toolchain change cannot alter them silently.
final class RandomDrawTests: XCTestCase {
    private var reference: [String: Any]!

    override func setUpWithError() throws {
        let data = try Data(contentsOf: Fixtures.directory.appendingPathComponent("init_random.json"))
        reference = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    private func floats(_ key: String) throws -> [Float] {
        try XCTUnwrap(reference[key] as? [Double], key).map { Float($0) }
    }

    /// Exact: every draw is integer arithmetic and IEEE float32 operations; Box-Muller's log, sqrt, cos and sin
    /// are float64 and rounded to float32, far below whose resolution libm implementations differ.
    func testGeneratorDrawsArePinned() throws {
        var generator = SplitMix64(seed: 42)
        XCTAssertEqual((0..<4).map { _ in generator.unitInterval() },
                       try XCTUnwrap(reference["unit_interval_seed42"] as? [String]).map { Double($0) })
        generator = SplitMix64(seed: 42)
        XCTAssertEqual((0..<4).map { _ in generator.unitIntervalFloat() }, try floats("unit_interval_float_seed42"))
        generator = SplitMix64(seed: 3)
        XCTAssertEqual(generator.normal(5, std: 0.1), try floats("normal_seed3_std0.1"))
        generator = SplitMix64(seed: 4)
        XCTAssertEqual(generator.uniform(5, lower: -0.25, upper: 0.25), try floats("uniform_seed4_bound0.25"))
    }

    func testInitialWeightsArePinned() throws {
        var initializer = Initializer(.random(seed: 5))
        let linear = Linear(name: "fc", inFeatures: 3, outFeatures: 2, initializer: &initializer)
        let expected = try XCTUnwrap(reference["linear_3_2_seed5"] as? [String: [Double]])
        XCTAssertEqual(linear.weight.values, expected["weight"]?.map { Float($0) })
        XCTAssertEqual(linear.bias?.values, expected["bias"]?.map { Float($0) })

        initializer = Initializer(.random(seed: 6))
        let conv = Conv2d(name: "conv", inChannels: 2, outChannels: 2, kernelSize: 3, weightInit: .normal(std: 0.1),
                          initializer: &initializer)
        XCTAssertEqual(Array(conv.weight.values.prefix(6)), try floats("conv_normal_seed6_std0.1_first6"))
    }

    func testDropoutMaskIsPinned() throws {
        var generator = SplitMix64(state: 7)
        let ones = Tensor(shape: [12], values: [Float](repeating: 1, count: 12))
        let masked = try dropout(ones, probability: 0.25, training: true, generator: &generator)
        XCTAssertEqual(try masked.values(), try floats("dropout_mask_state7_p0.25"))
    }
}
