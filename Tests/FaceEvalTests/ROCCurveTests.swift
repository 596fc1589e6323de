import XCTest
@testable import FaceEval

/// Expected values: scripts/reference/eval_fixtures.py (roc.json): scikit-learn 1.2.1's roc_curve and auc,
/// then insightface ijb_11.py's lookup of the point with the FPR closest to each FAR.
final class ROCCurveTests: XCTestCase {
    func testMatchesSklearnWithTies() throws {
        let cases = try XCTUnwrap(try Fixture.load("roc.json")["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 3)
        for json in cases {
            let name = try XCTUnwrap(json["name"] as? String)
            let roc = try ROCCurve(scores: try Fixture.doubles(json["scores"]),
                                   isSame: try XCTUnwrap(json["isSame"] as? [Bool]))
            // Rates are count / total in both: exact. Thresholds are the input scores (+1 for the first).
            XCTAssertEqual(roc.falsePositiveRates, try Fixture.doubles(json["fpr"]), name)
            XCTAssertEqual(roc.truePositiveRates, try Fixture.doubles(json["tpr"]), name)
            XCTAssertEqual(roc.thresholds, try Fixture.doubles(json["thresholds"]), name)
            assertClose(roc.area, try XCTUnwrap(json["auc"] as? Double), rtol: 1e-12, atol: 0, "\(name) auc")
            let table = try Fixture.table(json["table"])
            let ours = roc.table(falseAcceptRates: table.far)
            XCTAssertEqual(ours.map(\.tar), table.tar, name)
            XCTAssertEqual(ours.map(\.achievedFAR), table.achievedFAR, name)
        }
    }

    func testHandDerivedSmallCurve() throws {
        // Scores 0.9 (same), 0.9 (different), 0.8 (same), 0.1 (different): the tie at 0.9 is one point
        // (TPR 1/2, FPR 1/2); then (1, 1/2) at 0.8 and (1, 1) at 0.1; plus (0, 0).
        let roc = try ROCCurve(scores: [0.9, 0.9, 0.8, 0.1], isSame: [true, false, true, false])
        XCTAssertEqual(roc.falsePositiveRates, [0, 0.5, 0.5, 1])
        XCTAssertEqual(roc.truePositiveRates, [0, 0.5, 1, 1])
        XCTAssertEqual(roc.thresholds, [1.9, 0.9, 0.8, 0.1])
        // Area: triangle-ish trapezoid 0.5 * (0 + 0.5) / 2 + 0 + 0.5 * (1 + 1) / 2 = 0.125 + 0.5.
        XCTAssertEqual(roc.area, 0.625, accuracy: 1e-15)
        // FAR 0.5: two points at FPR 0.5; the one with the higher TPR wins.
        XCTAssertEqual(roc.truePositiveRate(atFalseAcceptRate: 0.5), 1)
    }

    func testSingleClassAndNonFiniteThrow() {
        XCTAssertThrowsError(try ROCCurve(scores: [0.1, 0.2], isSame: [true, true])) { error in
            XCTAssertEqual(error as? EvaluationError, .singleClass(missing: "negative"))
        }
        XCTAssertThrowsError(try ROCCurve(scores: [0.1, 0.2], isSame: [false, false])) { error in
            XCTAssertEqual(error as? EvaluationError, .singleClass(missing: "positive"))
        }
        XCTAssertThrowsError(try ROCCurve(scores: [0.1, .nan], isSame: [true, false])) { error in
            XCTAssertEqual(error as? EvaluationError, .nonFinite(what: "score", index: 1))
        }
    }
}
