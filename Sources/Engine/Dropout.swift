// Dropout: zero each element with probability p in training, scale the rest by 1/(1-p) (torch's
import CDNNL
import Randomness
// inverted dropout). The identity in evaluation or with p = 0 (IResNet's default).

/// Dropout with drop probability `probability`; `generator` draws the mask, one `unitIntervalFloat()` per
/// element (the project's draw, not the standard library's `Float.random(in:using:)`, whose algorithm is the
/// toolchain's), so a seed gives the same mask with every Swift version.
public func dropout(_ input: Tensor, probability: Float, training: Bool,
                    generator: inout SplitMix64) throws -> Tensor {
    guard probability >= 0 && probability < 1 else {
        throw EngineError.invalidArgument(operation: "dropout", detail: "probability must be in [0, 1), got \(probability)")
    }
    if !training || probability == 0 { return input }
    if input.dtype != .float32 {   // the mask loop below works on float32 buffers
        return try dropout(input.converted(to: .float32), probability: probability, training: training,
                           generator: &generator)
    }
    // The mask covers the whole physical buffer, so blocked padding stays zero (0 * scale).
    let elements = input.desc.byteCount / 4
    let mask = Tensor(desc: input.desc)
    let keepScale = 1 / (1 - probability)
    let m = mask.storage.floats(elements)
    for i in 0..<elements { m[i] = generator.unitIntervalFloat() < probability ? 0 : keepScale }
    let output = Tensor(desc: input.desc)
    let x = input.storage.floats(elements), y = output.storage.floats(elements)
    for i in 0..<elements { y[i] = x[i] * m[i] }
    return Tensor.record(output, "dropout", [input]) { gradient in
        [try binary(dnnl_binary_mul, gradient.reordered(to: mask.desc), mask, "dropout backward")]
    }
}
