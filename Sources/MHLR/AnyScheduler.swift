/// Any scheduler of the library, chosen at run time; Codable so a trainer checkpoint stores it.
public enum AnyScheduler: LearningRateScheduler, Equatable {
    case mhlr(MHLR)
    case fastFace(FastFace)
    case polynomial(PolynomialLRWarmup)
    case multiStep(MultiStepLR)
    case cosine(CosineAnnealingLR)
    case plateau(ReduceLROnPlateau)
    case constant(ConstantLR)

    /// The wrapped scheduler.
    public var base: any LearningRateScheduler {
        switch self {
        case .mhlr(let s): return s
        case .fastFace(let s): return s
        case .polynomial(let s): return s
        case .multiStep(let s): return s
        case .cosine(let s): return s
        case .plateau(let s): return s
        case .constant(let s): return s
        }
    }

    public var learningRate: Double { base.learningRate }
    public var stepsFed: Int { base.stepsFed }
    public var nonFiniteLosses: Int { base.nonFiniteLosses }

    /// Steps the wrapped scheduler in place: `self` is consumed, so the payload is moved out (its ring
    /// buffers stay uniquely referenced and are not copied), stepped, and moved back.
    public mutating func step(loss: Double) -> Double {
        let learningRate: Double
        switch consume self {
        case .mhlr(var s):
            learningRate = s.step(loss: loss)
            self = .mhlr(s)
        case .fastFace(var s):
            learningRate = s.step(loss: loss)
            self = .fastFace(s)
        case .polynomial(var s):
            learningRate = s.step(loss: loss)
            self = .polynomial(s)
        case .multiStep(var s):
            learningRate = s.step(loss: loss)
            self = .multiStep(s)
        case .cosine(var s):
            learningRate = s.step(loss: loss)
            self = .cosine(s)
        case .plateau(var s):
            learningRate = s.step(loss: loss)
            self = .plateau(s)
        case .constant(var s):
            learningRate = s.step(loss: loss)
            self = .constant(s)
        }
        return learningRate
    }
}
