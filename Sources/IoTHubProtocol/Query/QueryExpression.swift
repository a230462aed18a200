/// A condition or value in a query, evaluated against a twin document.
///
/// `AND` and `OR` are n-ary: the parser turns a chain `a OR b OR c …` into one ``or(_:)`` node holding every term
/// (evaluated with a loop), so the tree is only as deep as the query's nesting of parentheses, `NOT` and function
/// calls, which ``RegistryQuery/maximumNestingDepth`` bounds. Evaluation, equality, hashing and destruction all
/// recurse per level of that tree, never per term, so even the longest query the parser accepts stays within a
/// small thread stack (NIO event-loop threads and the cooperative pool have 512 KiB).
public indirect enum QueryExpression: Sendable, Hashable {
    /// Comparison operators.
    public enum Comparison: String, Sendable, Hashable {
        case equal = "="
        case notEqual = "!="
        case less = "<"
        case greater = ">"
        case lessOrEqual = "<="
        case greaterOrEqual = ">="
    }

    case literal(JSONValue)
    case field([String])
    case compare(QueryExpression, Comparison, QueryExpression)
    case inList(QueryExpression, [QueryExpression], negated: Bool)
    /// True when every term is true (terms are evaluated in order and evaluation stops at the first that is not).
    case and([QueryExpression])
    /// True when any term is true (terms are evaluated in order and evaluation stops at the first that is).
    case or([QueryExpression])
    case not(QueryExpression)
    case function(String, [QueryExpression])

    /// The value on `document`; `nil` means undefined (a missing field).
    public func evaluate(on document: JSONValue) -> JSONValue? {
        switch self {
        case .literal(let value): return value
        case .field(let path): return Self.resolve(path, in: document)
        case .compare(let left, let op, let right):
            guard let lhs = left.evaluate(on: document), let rhs = right.evaluate(on: document) else { return .bool(false) }
            return .bool(Self.compare(lhs, op, rhs))
        case .inList(let value, let list, let negated):
            guard let needle = value.evaluate(on: document) else { return .bool(false) }
            let found = list.contains { $0.evaluate(on: document).map { Self.compare(needle, .equal, $0) } ?? false }
            return .bool(found != negated)
        case .and(let terms):
            for term in terms where term.evaluate(on: document) != .bool(true) { return .bool(false) }
            return .bool(true)
        case .or(let terms):
            for term in terms where term.evaluate(on: document) == .bool(true) { return .bool(true) }
            return .bool(false)
        case .not(let inner):
            guard case .bool(let value)? = inner.evaluate(on: document) else { return .bool(false) }
            return .bool(!value)
        case .function(let name, let arguments):
            return Self.call(name, arguments.map { $0.evaluate(on: document) })
        }
    }

    /// The first segment of every field the expression reads (`level`, `$body`, `$twin`, `tags`).
    public var fieldRoots: Set<String> {
        switch self {
        case .literal: return []
        case .field(let path): return path.first.map { [$0] } ?? []
        case .compare(let left, _, let right): return left.fieldRoots.union(right.fieldRoots)
        case .inList(let value, let list, _): return list.reduce(value.fieldRoots) { $0.union($1.fieldRoots) }
        case .and(let terms), .or(let terms), .function(_, let terms): return terms.reduce([]) { $0.union($1.fieldRoots) }
        case .not(let inner): return inner.fieldRoots
        }
    }

    /// Whether `segment` is `name` (lowercase ASCII) in any case, without allocating.
    static func isAlias(_ segment: String, _ name: String) -> Bool {
        segment.utf8.count == name.utf8.count
            && zip(segment.utf8, name.utf8).allSatisfy { ($0 | 0x20) == $1 }
    }

    /// Looks up a dotted path; a leading `devices` or `modules` alias is skipped.
    static func resolve(_ path: [String], in document: JSONValue) -> JSONValue? {
        var current: JSONValue? = document
        var segments = path[...]
        if let first = segments.first, isAlias(first, "devices") || isAlias(first, "modules"), segments.count > 1,
           document[first] == nil {
            segments = segments.dropFirst()
            if let next = segments.first, isAlias(next, "modules"), segments.count > 1, document["modules"] == nil {
                segments = segments.dropFirst()
            }
        }
        for segment in segments {
            guard case .object(let object)? = current else { return nil }
            current = object[segment]
        }
        return current
    }

    static func compare(_ lhs: JSONValue, _ op: Comparison, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)):
            return order(a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value } ? -1 : (a == b ? 0 : 1), op)
        case (.bool(let a), .bool(let b)):
            switch op {
            case .equal: return a == b
            case .notEqual: return a != b
            default: return false
            }
        case (.null, .null):
            return op == .equal || op == .lessOrEqual || op == .greaterOrEqual
        default:
            guard let a = lhs.doubleValue, let b = rhs.doubleValue else {
                // Different types: only inequality holds, and only for defined values of different kinds.
                return op == .notEqual && lhs.typeName != rhs.typeName
            }
            return order(a < b ? -1 : (a == b ? 0 : 1), op)
        }
    }

    private static func order(_ result: Int, _ op: Comparison) -> Bool {
        switch op {
        case .equal: result == 0
        case .notEqual: result != 0
        case .less: result < 0
        case .greater: result > 0
        case .lessOrEqual: result <= 0
        case .greaterOrEqual: result >= 0
        }
    }

    /// The functions IoT Hub's query language offers, with their arity.
    static let functions: [String: Int] = [
        "IS_DEFINED": 1, "IS_NULL": 1, "IS_STRING": 1, "IS_NUMBER": 1, "IS_BOOL": 1, "IS_OBJECT": 1, "IS_ARRAY": 1,
        "IS_PRIMITIVE": 1, "STARTSWITH": 2, "ENDSWITH": 2, "CONTAINS": 2,
    ]

    static func call(_ name: String, _ arguments: [JSONValue?]) -> JSONValue? {
        let value = arguments.first ?? nil
        switch name {
        case "IS_DEFINED": return .bool(value != nil)
        case "IS_NULL": return .bool(value?.isNull == true)
        case "IS_STRING": return .bool(value?.stringValue != nil)
        case "IS_NUMBER": return .bool(value?.doubleValue != nil)
        case "IS_BOOL": return .bool(value?.boolValue != nil)
        case "IS_OBJECT": return .bool(value?.objectValue != nil)
        case "IS_ARRAY": return .bool(value?.arrayValue != nil)
        case "IS_PRIMITIVE":
            guard let value else { return .bool(false) }
            return .bool(value.objectValue == nil && value.arrayValue == nil)
        case "STARTSWITH", "ENDSWITH", "CONTAINS":
            guard let text = value?.stringValue, let part = arguments.count > 1 ? arguments[1]?.stringValue : nil else {
                return .bool(false)
            }
            switch name {
            case "STARTSWITH": return .bool(text.hasPrefix(part))
            case "ENDSWITH": return .bool(text.hasSuffix(part))
            default: return .bool(text.contains(part))
            }
        default: return nil
        }
    }
}
