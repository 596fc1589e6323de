@testable import MHLR

/// One of every scheduler of the library, configured so that its LR changes within a few thousand steps of
/// `PlateauSignal(windowSteps: 50, ...)`.
func everyScheduler() throws -> [(name: String, scheduler: AnyScheduler)] {
    [
        ("mhlr box", .mhlr(try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 50)))),
        ("mhlr exponential", .mhlr(try MHLR(baseLR: 0.1, configuration: .init(
            windowSteps: 51, threshold: 0.02, smoothing: .exponential(alpha: 0.02), minimumLR: 1e-4)))),
        ("fastFace", .fastFace(try FastFace(baseLR: 0.1, configuration: .init(totalSteps: 4000, alpha: 0.01, beta: 0.01, threshold: 1e-3)))),
        ("fastFace released", .fastFace(try FastFace(baseLR: 0.1, configuration: .init(totalSteps: 4000, startup: .released)))),
        ("polynomial", .polynomial(try PolynomialLRWarmup(baseLR: 0.1, warmupSteps: 100, totalSteps: 3000))),
        ("multiStep", .multiStep(try MultiStepLR(baseLR: 0.1, milestones: [500, 1500, 2500]))),
        ("cosine", .cosine(try CosineAnnealingLR(baseLR: 0.1, totalSteps: 3000, warmupSteps: 200, minimumLR: 1e-4))),
        ("plateau", .plateau(try ReduceLROnPlateau(baseLR: 0.1, factor: 0.5, patience: 30, cooldown: 5, minimumLR: 1e-5))),
        ("constant", .constant(try ConstantLR(baseLR: 0.1))),
        ("wsd", .wsd(try WarmupStableDecay(baseLR: 0.1, totalSteps: 3000, warmupSteps: 100, cooldownShape: .oneMinusSqrt))),
    ]
}

/// The first `count` losses of a plateau signal with window 50.
func plateauLosses(_ count: Int, seed: UInt64 = 11) -> [Double] {
    var signal = PlateauSignal(windowSteps: 50, seed: seed)
    return (0..<count).map { _ in signal.next() }
}
