/// A JSON value (RFC 8259), with integers and floating-point numbers kept apart.
///
/// ``JSONParser`` turns a number without fraction or exponent that fits `Int64` into ``integer(_:)``, and every
/// other number (`1.0`, `1e3`, `9223372036854775808`) into ``double(_:)``. Serialization writes each back in the
/// same form, so a document survives parse → serialize → parse unchanged.
///
/// **Equality is numeric across the two number cases**: `.integer(1) == .double(1.0)` is `true`, and hashing
/// agrees, because JSON itself has a single number type. The comparison is exact: `.integer(2⁵³ + 1)` is not equal
/// to `.double(9007199254740992)`. Objects compare without regard to key order (see ``JSONObject``). A
/// constructed `.double(.nan)` is not equal to itself; the parser never produces one.
///
/// Literals make values easy to write (there is deliberately no `nil` literal: use ``null``, so that assigning
/// `nil` through an optional subscript keeps meaning "remove"):
///
/// ```swift
/// let value: JSONValue = ["name": "pump", "rpm": 1200, "limits": [0.5, 2.5], "spare": .null]
/// value["rpm"]?.int64Value             // 1200
/// value["limits"]?[1]?.doubleValue     // 2.5
/// value.serialized()                   // {"name":"pump","rpm":1200,"limits":[0.5,2.5],"spare":null}
/// let parsed = try JSONValue(parsing: #"{"rpm": 1200.0}"#)
/// parsed["rpm"] == 1200                // true: numeric equality
/// ```
public enum JSONValue: Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number without fraction or exponent that fits `Int64`.
    case integer(Int64)
    /// Any other number. Non-finite values cannot be parsed; if constructed, they serialize as `null`.
    case double(Double)
    /// A string (any Unicode text; serialization escapes what JSON requires).
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object, in insertion order.
    case object(JSONObject)

    /// Parses UTF-8 JSON text with the default ``JSONParser`` (nesting at most 64 deep).
    /// - Throws: ``JSONParseError`` with the byte offset of the problem.
    public init(parsing text: String) throws(JSONParseError) {
        self = try JSONParser().parse(text)
    }

    /// Parses UTF-8 JSON bytes with the default ``JSONParser`` (nesting at most 64 deep).
    /// - Throws: ``JSONParseError`` with the byte offset of the problem.
    public init(parsing bytes: some Collection<UInt8>) throws(JSONParseError) {
        self = try JSONParser().parse(bytes)
    }

    // MARK: Typed access

    /// Whether this is `null`.
    public var isNull: Bool { if case .null = self { true } else { false } }

    /// The Boolean, when this is `true` or `false`.
    public var boolValue: Bool? { if case .bool(let value) = self { value } else { nil } }

    /// The string, when this is a string.
    public var stringValue: String? { if case .string(let value) = self { value } else { nil } }

    /// The array, when this is an array.
    public var arrayValue: [JSONValue]? { if case .array(let value) = self { value } else { nil } }

    /// The object, when this is an object.
    public var objectValue: JSONObject? { if case .object(let value) = self { value } else { nil } }

    /// The number as `Int64`: an integer, or a double with an exact integral value in range (`2.0` → 2).
    public var int64Value: Int64? {
        switch self {
        case .integer(let value): value
        case .double(let value): Int64(exactly: value)
        default: nil
        }
    }

    /// The number as `Double` (an integer converts, possibly rounding above 2⁵³).
    public var doubleValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    /// The value for `key` when this is an object that has it; `nil` otherwise.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { object[key] } else { nil }
    }

    /// The element at `index` when this is an array and the index is in range; `nil` otherwise.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let array) = self, array.indices.contains(index) else { return nil }
        return array[index]
    }

    /// A short name of the value's JSON type ("null", "boolean", "number", "string", "array", "object"), for
    /// messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer, .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

// MARK: - Equatable and Hashable

extension JSONValue: Hashable {
    /// Structural equality; numbers compare by exact numeric value across ``integer(_:)`` and ``double(_:)``.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.integer(let a), .double(let b)), (.double(let b), .integer(let a)): Int64(exactly: b) == a
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        default: false
        }
    }

    /// Consistent with ``==(_:_:)``: a double with an exact `Int64` value hashes like that integer.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null:
            hasher.combine(0 as UInt8)
        case .bool(let value):
            hasher.combine(1 as UInt8)
            hasher.combine(value)
        case .integer(let value):
            hasher.combine(2 as UInt8)
            hasher.combine(value)
        case .double(let value):
            if let integral = Int64(exactly: value) {
                hasher.combine(2 as UInt8)
                hasher.combine(integral)
            } else {
                hasher.combine(3 as UInt8)
                hasher.combine(value)
            }
        case .string(let value):
            hasher.combine(4 as UInt8)
            hasher.combine(value)
        case .array(let value):
            hasher.combine(5 as UInt8)
            hasher.combine(value)
        case .object(let value):
            hasher.combine(6 as UInt8)
            hasher.combine(value)
        }
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// `true` / `false`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An integer literal becomes ``integer(_:)``.
    public init(integerLiteral value: Int64) { self = .integer(value) }
    /// A floating-point literal becomes ``double(_:)``.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// A string literal.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An array literal.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// A dictionary literal becomes an object in the literal's order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}

// MARK: - Text

extension JSONValue: CustomStringConvertible {
    /// The compact serialization (see ``serialized(style:)``).
    public var description: String { serialized() }
}
