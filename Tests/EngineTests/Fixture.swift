import Foundation
import XCTest
@testable import Engine
@_exported import TensorFixtures

/// Drives a backward pass with the fixture's upstream gradient: loss = sum(output * grad_output).
func backward(_ output: Tensor, _ fixture: Fixture) throws {
    try output.backward(gradient: fixture.tensor("grad_output"))
}
