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

    /// Steps the wrapped scheduler in place. The payload is moved out first (`self` briefly holds a
    /// placeholder) so its ring buffers stay uniquely referenced and are not copied every step.
    public mutating func step(loss: Double) -> Double {
        switch self {
        case .mhlr(var s):
            self = .constant(.placeholder)
            defer { self = .mhlr(s) }
            return s.step(loss: loss)
        case .fastFace(var s):
            self = .constant(.placeholder)
            defer { self = .fastFace(s) }
            return s.step(loss: loss)
        case .polynomial(var s):
            self = .constant(.placeholder)
            defer { self = .polynomial(s) }
            return s.step(loss: loss)
        case .multiStep(var s):
            self = .constant(.placeholder)
            defer { self = .multiStep(s) }
            return s.step(loss: loss)
        case .cosine(var s):
            self = .constant(.placeholder)
            defer { self = .cosine(s) }
            return s.step(loss: loss)
        case .plateau(var s):
            self = .constant(.placeholder)
            defer { self = .plateau(s) }
            return s.step(loss: loss)
        case .constant(var s):
            defer { self = .constant(s) }
            return s.step(loss: loss)
        }
    }
}

extension ConstantLR {
    /// A valid value to park in an `AnyScheduler` while its payload is stepped.
    static let placeholder = try! ConstantLR(baseLR: 1)
}
