import Foundation
import XCTest
@testable import Training

/// The YAML reader of config and study files: the values Yams' resolver types (expected values read off the
/// literal documents by YAML 1.1's rules), and the bounds that replace Yams' own constructor.
final class YAMLValuesTests: XCTestCase {
    func testScalarsAreTypedAsYAMLResolvesThem() throws {
        let values = try XCTUnwrap(try YAMLValues.load("""
            network: r18
            lr: 0.1
            batch_size: 64
            fp16: true
            init: ~
            quoted: "0.5"
            margin_list: [1.0, 0, 0.4]
            scheduler: {name: mhlr, window: 16}
            base: &base 2
            again: *base
            """) as? [String: Any])
        XCTAssertEqual(values["network"] as? String, "r18")
        XCTAssertEqual(values["lr"] as? Double, 0.1)
        XCTAssertEqual(values["batch_size"] as? Int, 64)
        XCTAssertEqual(values["fp16"] as? Bool, true)
        XCTAssertTrue(values["init"] is NSNull)
        XCTAssertEqual(values["quoted"] as? String, "0.5")
        let margins = try XCTUnwrap(values["margin_list"] as? [Any])
        XCTAssertEqual(margins[0] as? Double, 1.0)
        XCTAssertEqual(margins[1] as? Int, 0)
        XCTAssertEqual((values["scheduler"] as? [String: Any])?["window"] as? Int, 16)
        XCTAssertEqual(values["again"] as? Int, 2)
    }

    /// YAML 1.1's base-60 integers stay text: Yams multiplies them out unchecked, and this one trapped it
    /// (found by the yaml fuzz target; Fuzz/regressions/yaml).
    func testBase60IntegersAreLeftAsText() throws {
        XCTAssertEqual(try YAMLValues.load("-4444444444444444436:2") as? String, "-4444444444444444436:2")
        XCTAssertEqual((try YAMLValues.load("at: 1:30\n") as? [String: Any])?["at"] as? String, "1:30")
    }

    /// The scalars that only the resolver rules left out of `YAMLValues` (timestamp, merge, value) would tag
    /// stay text, as they were when the rules were there: `value(of:)` never read those tags.
    func testTimestampsMergeAndValueKeysAreText() throws {
        let values = try XCTUnwrap(try YAMLValues.load("""
            day: 2026-12-03
            moment: 2001-12-14t21:59:43.10-05:00
            <<: {lr: 0.1}
            =: 1
            """) as? [String: Any])
        XCTAssertEqual(values["day"] as? String, "2026-12-03")
        XCTAssertEqual(values["moment"] as? String, "2001-12-14t21:59:43.10-05:00")
        XCTAssertEqual((values["<<"] as? [String: Any])?["lr"] as? Double, 0.1)
        XCTAssertEqual(values["="] as? Int, 1)
        XCTAssertNil(values["lr"])
    }

    func testMalformedAndUnboundedDocumentsAreRefused() {
        assertRefused("a: 1\na: 2\n", "duplicated key(s): 'a'")   // Yams' parser refuses these itself
        assertRefused("{[x]: 1}\n", "a key that is not a plain name (line 1, column 2)")
        // Each level doubles the one below: 2^20 values once the aliases are expanded.
        var laughs = "l0: &l0 [x, x]\n"
        for level in 1...20 { laughs += "l\(level): &l\(level) [*l\(level - 1), *l\(level - 1)]\n" }
        assertRefused(laughs, "more than 100000 values once aliases are expanded")
        assertRefused(String(repeating: "[", count: 70) + String(repeating: "]", count: 70), "collections nested more than 64 deep")
        assertRefused(String(repeating: "[", count: 10_001), "10001 of the characters [ { - : ? that open collections")
    }

    private func assertRefused(_ text: String, _ expected: String, line: UInt = #line) {
        XCTAssertThrowsError(try YAMLValues.load(text), line: line) { error in
            XCTAssertTrue("\(error)".contains(expected), "\(error)", line: line)
        }
    }
}
