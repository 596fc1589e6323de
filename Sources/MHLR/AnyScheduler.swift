/// Any scheduler of the library, chosen at run time; Codable so a trainer checkpoint stores it.
public enum AnyScheduler: LearningRateScheduler, Equatable {
    case mhlr(MHLR)
    case fastFace(FastFace)
    case polynomial(PolynomialLRWarmup)
    case multiStep(MultiStepLR)
    case cosine(CosineAnnealingLR)
    case plateau(ReduceLROnPlateau)
    case constant(ConstantLR)
    case wsd(WarmupStableDecay)

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
        case .wsd(let s): return s
        }
    }

    // Switches rather than `base`, which would box the payload in an existential on every read.
    public var learningRate: Double {
        switch self {
        case .mhlr(let s): return s.learningRate
        case .fastFace(let s): return s.learningRate
        case .polynomial(let s): return s.learningRate
        case .multiStep(let s): return s.learningRate
        case .cosine(let s): return s.learningRate
        case .plateau(let s): return s.learningRate
        case .constant(let s): return s.learningRate
        case .wsd(let s): return s.learningRate
        }
    }

    public var stepsFed: Int {
        switch self {
        case .mhlr(let s): return s.stepsFed
        case .fastFace(let s): return s.stepsFed
        case .polynomial(let s): return s.stepsFed
        case .multiStep(let s): return s.stepsFed
        case .cosine(let s): return s.stepsFed
        case .plateau(let s): return s.stepsFed
        case .constant(let s): return s.stepsFed
        case .wsd(let s): return s.stepsFed
        }
    }

    public var nonFiniteLosses: Int {
        switch self {
        case .mhlr(let s): return s.nonFiniteLosses
        case .fastFace(let s): return s.nonFiniteLosses
        case .polynomial(let s): return s.nonFiniteLosses
        case .multiStep(let s): return s.nonFiniteLosses
        case .cosine(let s): return s.nonFiniteLosses
        case .plateau(let s): return s.nonFiniteLosses
        case .constant(let s): return s.nonFiniteLosses
        case .wsd(let s): return s.nonFiniteLosses
        }
    }

    /// Whether the scheduler asks the trainer to end the run now (MHLR's `stop_after_decays`).
    public var stopRequested: Bool {
        if case .mhlr(let s) = self { return s.stopRequested }
        return false
    }

    public mutating func noteEpochBoundary() {
        switch consume self {
        case .mhlr(var s):
            s.noteEpochBoundary()
            self = .mhlr(s)
        case let other:
            self = other
        }
    }

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
        case .wsd(var s):
            learningRate = s.step(loss: loss)
            self = .wsd(s)
        }
        return learningRate
    }
}

extension AnyScheduler {
    /// The stored name of each case, as in `{"kind": "mhlr", "scheduler": {...}}`.
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case mhlr, fastFace, polynomial, multiStep, cosine, plateau, constant, wsd
    }

    public var kind: Kind {
        switch self {
        case .mhlr: return .mhlr
        case .fastFace: return .fastFace
        case .polynomial: return .polynomial
        case .multiStep: return .multiStep
        case .cosine: return .cosine
        case .plateau: return .plateau
        case .constant: return .constant
        case .wsd: return .wsd
        }
    }

    private enum CodingKeys: String, CodingKey { case kind, scheduler }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(Kind.self, forKey: .kind) {
        case .mhlr: self = .mhlr(try container.decode(MHLR.self, forKey: .scheduler))
        case .fastFace: self = .fastFace(try container.decode(FastFace.self, forKey: .scheduler))
        case .polynomial: self = .polynomial(try container.decode(PolynomialLRWarmup.self, forKey: .scheduler))
        case .multiStep: self = .multiStep(try container.decode(MultiStepLR.self, forKey: .scheduler))
        case .cosine: self = .cosine(try container.decode(CosineAnnealingLR.self, forKey: .scheduler))
        case .plateau: self = .plateau(try container.decode(ReduceLROnPlateau.self, forKey: .scheduler))
        case .constant: self = .constant(try container.decode(ConstantLR.self, forKey: .scheduler))
        case .wsd: self = .wsd(try container.decode(WarmupStableDecay.self, forKey: .scheduler))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .mhlr(let s): try container.encode(s, forKey: .scheduler)
        case .fastFace(let s): try container.encode(s, forKey: .scheduler)
        case .polynomial(let s): try container.encode(s, forKey: .scheduler)
        case .multiStep(let s): try container.encode(s, forKey: .scheduler)
        case .cosine(let s): try container.encode(s, forKey: .scheduler)
        case .plateau(let s): try container.encode(s, forKey: .scheduler)
        case .constant(let s): try container.encode(s, forKey: .scheduler)
        case .wsd(let s): try container.encode(s, forKey: .scheduler)
        }
    }
}
