import Foundation
import XCTest
@testable import Engine
@_exported import TensorFixtures

/// Drives a backward pass with the fixture's upstream gradient: loss = sum(output * grad_output).
func backward(_ output: Tensor, _ fixture: Fixture) throws {
    try output.backward(gradient: fixture.tensor("grad_output"))
}

/// The IResNet block of fixture "iresnet_block" (scripts/reference/engine_fixtures.py) built from Engine ops:
/// BN -> conv -> BN -> PReLU -> conv s2 -> BN, plus a 1x1 stride-2 shortcut conv + BN, added.
struct IResNetBlockFixture {
    static let parameterNames = ["bn1.weight", "bn1.bias", "conv1.weight", "bn2.weight", "bn2.bias", "prelu.weight",
                                 "conv2.weight", "bn3.weight", "bn3.bias", "downsample.0.weight",
                                 "downsample.1.weight", "downsample.1.bias"]
    let fixture: Fixture
    let parameters: [String: Parameter]

    init() throws {
        let fixture = try Fixture("iresnet_block")
        self.fixture = fixture
        parameters = Dictionary(uniqueKeysWithValues: Self.parameterNames.map {
            ($0, Parameter(name: $0, shape: fixture.shape($0), values: fixture.values($0)))
        })
    }

    /// The block's output for `input` (batch statistics, as in training).
    func forward(_ input: Tensor) throws -> Tensor {
        let p = parameters
        func bn(_ t: Tensor, _ prefix: String) throws -> Tensor {
            try batchNorm(t, weight: p[prefix + ".weight"]!.tensor, bias: p[prefix + ".bias"]!.tensor,
                          runningMean: nil, runningVar: nil, training: true)
        }
        var out = try bn(input, "bn1")
        out = try conv2d(out, weight: p["conv1.weight"]!.tensor, padding: 1)
        out = try bn(out, "bn2")
        out = try prelu(out, weight: p["prelu.weight"]!.tensor)
        out = try conv2d(out, weight: p["conv2.weight"]!.tensor, stride: 2, padding: 1)
        out = try bn(out, "bn3")
        let shortcut = try bn(conv2d(input, weight: p["downsample.0.weight"]!.tensor, stride: 2), "downsample.1")
        return try out + shortcut
    }
}
