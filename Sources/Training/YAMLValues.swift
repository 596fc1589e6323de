import Foundation
import Yams

/// The values of a YAML config or study file (mappings as `[String: Any]`, sequences as `[Any]`, scalars as
/// `Bool`, `Int`, `Double`, `String` or `NSNull`), built here from Yams' node tree with bounds, never by Yams'
/// own constructor: that one traps on some malformed documents (a mapping as a key in a flow mapping, found
/// by the `study` fuzz target), and an anchor referenced by aliases that reference it again expands
/// exponentially. A document past the bounds is refused with a message; none of them binds a real config.
enum YAMLValues {
    /// At most this many bytes (a config is a few hundred).
    static let maximumBytes = 1 << 20
    /// At most this many collections and scalars visited, aliases expanded (a config holds about a hundred).
    static let maximumNodes = 100_000
    /// Collections nested at most this deep (a config nests three).
    static let maximumDepth = 64
    /// At most this many characters that can open a collection (a study of 20 arms holds about 200): Yams
    /// composes nested collections recursively, and this bounds the nesting it can meet, hence its stack.
    static let maximumCollectionMarks = 10_000

    /// Yams' resolver less the rules whose tags `value(of:)` reads as text anyway (merge, timestamp, value):
    /// each rule is a regular expression tried on every plain scalar, and dropping them changes no value. The
    /// encoding is given, not looked up in the environment per parse. Both together: the yaml fuzz corpus in
    /// 2.5 s against 3.9 s (Fuzz/README.md, "Executions reached").
    private static let scalarTypes = Resolver.default.removing(.merge).removing(.timestamp).removing(.value)

    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    static func load(_ text: String) throws -> Any? {
        guard text.utf8.count <= maximumBytes else {
            throw Refusal(description: "\(text.utf8.count) bytes: larger than any config (at most \(maximumBytes))")
        }
        // The nesting bounded before Yams sees the text, by a count that can only overestimate it: every
        // collection opens with one of these characters.
        let openers = text.utf8.reduce(0) { count, byte in
            count + (byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "?") ? 1 : 0)
        }
        guard openers <= maximumCollectionMarks else {
            throw Refusal(description: "\(openers) of the characters [ { - : ? that open collections: more than any config "
                + "holds (at most \(maximumCollectionMarks))")
        }
        guard let node = try Yams.compose(yaml: text, scalarTypes, .default, .utf8) else { return nil }
        var budget = maximumNodes
        return try value(of: node, depth: 0, budget: &budget)
    }

    private static func value(of node: Node, depth: Int, budget: inout Int) throws -> Any {
        budget -= 1
        guard budget >= 0 else {
            throw Refusal(description: "more than \(maximumNodes) values once aliases are expanded")
        }
        guard depth <= maximumDepth else {
            throw Refusal(description: "collections nested more than \(maximumDepth) deep\(place(node))")
        }
        switch node {
        case .scalar(let scalar):
            switch node.tag.rawValue {   // the type the resolver gave the scalar, as Yams' constructor reads it
            case Tag.Name.null.rawValue: return NSNull()
            case Tag.Name.bool.rawValue: if let value = Bool.construct(from: scalar) { return value }
            case Tag.Name.int.rawValue:
                // YAML 1.1's base-60 integers ("1:30") are left as text: Yams' constructor multiplies them out
                // unchecked and traps on overflow (-4444444444444444436:2, found by the yaml fuzz target).
                if !scalar.string.contains(":"), let value = Int.construct(from: scalar) { return value }
            case Tag.Name.float.rawValue: if let value = Double.construct(from: scalar) { return value }
            default: break
            }
            return scalar.string
        case .sequence(let sequence):
            return try sequence.map { try value(of: $0, depth: depth + 1, budget: &budget) }
        case .mapping(let mapping):
            var values: [String: Any] = [:]
            for (key, item) in mapping {
                guard case .scalar(let name) = key else {
                    throw Refusal(description: "a key that is not a plain name\(place(key))")
                }
                guard values[name.string] == nil else {
                    throw Refusal(description: "the key '\(name.string)' appears twice\(place(key))")
                }
                values[name.string] = try value(of: item, depth: depth + 1, budget: &budget)
            }
            return values
        case .alias:
            throw Refusal(description: "an unresolved alias\(place(node))")
        }
    }

    private static func place(_ node: Node) -> String {
        node.mark.map { " (line \($0.line), column \($0.column))" } ?? ""
    }
}
