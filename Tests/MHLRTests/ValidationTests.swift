import XCTest
@testable import MHLR

/// Invalid parameters are rejected with a SchedulerParameterError naming the parameter.
final class ValidationTests: XCTestCase {
    func assertRejects<T>(_ parameter: String, file: StaticString = #filePath, line: UInt = #line,
                          _ make: () throws -> T) {
        do {
            _ = try make()
            XCTFail("accepted an invalid \(parameter)", file: file, line: line)
        } catch let error as SchedulerParameterError {
            XCTAssertEqual(error.parameter, parameter, "\(error)", file: file, line: line)
            XCTAssert(error.description.contains(parameter), file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testMHLRParameters() {
        func mhlr(_ configuration: MHLR.Configuration, baseLR: Double = 0.1) throws -> MHLR {
            try MHLR(baseLR: baseLR, configuration: configuration)
        }
        assertRejects("baseLR") { try mhlr(.init(windowSteps: 10), baseLR: 0) }
        assertRejects("baseLR") { try mhlr(.init(windowSteps: 10), baseLR: .nan) }
        assertRejects("windowSteps") { try mhlr(.init(windowSteps: 1)) }
        assertRejects("threshold") { try mhlr(.init(windowSteps: 10, threshold: .infinity)) }
        assertRejects("threshold") { try mhlr(.init(windowSteps: 10, threshold: .nan)) }
        assertRejects("patienceSteps") { try mhlr(.init(windowSteps: 10, patienceSteps: -1)) }
        assertRejects("decayFactor") { try mhlr(.init(windowSteps: 10, decayFactor: 1)) }
        assertRejects("restartAfter") { try mhlr(.init(windowSteps: 10, restartAfter: 0)) }
        assertRejects("smoothing.alpha") { try mhlr(.init(windowSteps: 10, smoothing: .exponential(alpha: 0))) }
        assertRejects("smoothing.alpha") { try mhlr(.init(windowSteps: 10, smoothing: .exponential(alpha: 1.5))) }
        assertRejects("minimumLR") { try mhlr(.init(windowSteps: 10, minimumLR: 0.2)) }
        assertRejects("minimumLR") { try mhlr(.init(windowSteps: 10, minimumLR: -1)) }
        XCTAssertNoThrow(try mhlr(.init(windowSteps: 2, threshold: -1, patienceSteps: 0, restartAfter: nil,
                                        smoothing: .exponential(alpha: 1), minimumLR: 0.1)))
    }

    func testFastFaceParameters() {
        func fastFace(_ configuration: FastFace.Configuration) throws -> FastFace {
            try FastFace(baseLR: 0.1, configuration: configuration)
        }
        assertRejects("totalSteps") { try fastFace(.init(totalSteps: 0)) }
        assertRejects("alpha") { try fastFace(.init(totalSteps: 10, alpha: 0)) }
        assertRejects("alpha") { try fastFace(.init(totalSteps: 10, alpha: 1.01)) }
        assertRejects("beta") { try fastFace(.init(totalSteps: 10, beta: -0.1)) }
        assertRejects("threshold") { try fastFace(.init(totalSteps: 10, threshold: .nan)) }
        assertRejects("tolerance") { try fastFace(.init(totalSteps: 10, tolerance: -0.1)) }
        assertRejects("decayFactor") { try fastFace(.init(totalSteps: 10, decayFactor: 0.5)) }
        assertRejects("maxHalvings") { try fastFace(.init(totalSteps: 10, maxHalvings: -1)) }
        assertRejects("baseLR") { try FastFace(baseLR: -1, configuration: .init(totalSteps: 10)) }
    }

    func testBaselineParameters() {
        assertRejects("warmupSteps") { try PolynomialLRWarmup(baseLR: 0.1, warmupSteps: -1, totalSteps: 10) }
        assertRejects("totalSteps") { try PolynomialLRWarmup(baseLR: 0.1, warmupSteps: 10, totalSteps: 10) }
        assertRejects("power") { try PolynomialLRWarmup(baseLR: 0.1, warmupSteps: 1, totalSteps: 10, power: 0) }
        assertRejects("milestones") { try MultiStepLR(baseLR: 0.1, milestones: [5, 5]) }
        assertRejects("milestones") { try MultiStepLR(baseLR: 0.1, milestones: [5, 3]) }
        assertRejects("milestones[0]") { try MultiStepLR(baseLR: 0.1, milestones: [0, 3]) }
        assertRejects("gamma") { try MultiStepLR(baseLR: 0.1, milestones: [3], gamma: 0) }
        assertRejects("totalSteps") { try CosineAnnealingLR(baseLR: 0.1, totalSteps: 0) }
        assertRejects("totalSteps") { try CosineAnnealingLR(baseLR: 0.1, totalSteps: 5, warmupSteps: 5) }
        assertRejects("minimumLR") { try CosineAnnealingLR(baseLR: 0.1, totalSteps: 5, minimumLR: 1) }
        assertRejects("factor") { try ReduceLROnPlateau(baseLR: 0.1, factor: 1) }
        assertRejects("patience") { try ReduceLROnPlateau(baseLR: 0.1, patience: -1) }
        assertRejects("threshold") { try ReduceLROnPlateau(baseLR: 0.1, threshold: -1) }
        assertRejects("threshold") { try ReduceLROnPlateau(baseLR: 0.1, threshold: 1, thresholdMode: .rel) }
        assertRejects("cooldown") { try ReduceLROnPlateau(baseLR: 0.1, cooldown: -2) }
        assertRejects("minimumLR") { try ReduceLROnPlateau(baseLR: 0.1, minimumLR: .infinity) }
        assertRejects("eps") { try ReduceLROnPlateau(baseLR: 0.1, eps: -1) }
        assertRejects("baseLR") { try ConstantLR(baseLR: .infinity) }
    }

    /// A checkpoint whose state does not fit its configuration throws instead of trapping later.
    func testDamagedStateIsRejected() throws {
        let scheduler = try MHLR(baseLR: 0.1, configuration: .init(windowSteps: 4))
        var json = String(decoding: try JSONEncoder().encode(scheduler), as: UTF8.self)
        json = json.replacingOccurrences(of: "\"windowSteps\":4", with: "\"windowSteps\":400")
        XCTAssertThrowsError(try JSONDecoder().decode(MHLR.self, from: Data(json.utf8)))
        json = json.replacingOccurrences(of: "\"windowSteps\":400", with: "\"windowSteps\":1")
        XCTAssertThrowsError(try JSONDecoder().decode(MHLR.self, from: Data(json.utf8))) { error in
            XCTAssertEqual((error as? SchedulerParameterError)?.parameter, "windowSteps")
        }
    }
}
