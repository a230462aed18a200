/// A query over device twins in IoT Hub's SQL-like language:
/// `SELECT * | COUNT() [AS n] | field, … FROM devices | devices.modules [WHERE condition]`.
///
/// Conditions combine `AND`, `OR`, `NOT` and parentheses over comparisons (`= != <> < > <= >=`), `IN [...]`,
/// `NIN [...]` and the functions `IS_DEFINED`, `IS_NULL`, `IS_STRING`, `IS_NUMBER`, `IS_BOOL`, `IS_OBJECT`,
/// `IS_ARRAY`, `IS_PRIMITIVE`, `STARTSWITH`, `ENDSWITH` and `CONTAINS`. Fields are dotted paths into the twin
/// document (`deviceId`, `status`, `tags.floor`, `properties.reported.firmware`); string literals use single
/// quotes. As in IoT Hub, a comparison with a missing field or a value of another type is false.
///
/// ```swift
/// let query = try RegistryQuery(parsing: "SELECT * FROM devices WHERE tags.floor >= 3 AND status = 'enabled'")
/// query.matches(twinDocument)   // Bool
/// ```
public struct RegistryQuery: Sendable, Hashable {
    /// What each result holds.
    public enum Selection: Sendable, Hashable {
        /// Whole twin documents.
        case all
        /// One row with the number of matches, under this name.
        case count(alias: String)
        /// Objects with the named fields (keyed by each path's last segment).
        case fields([[String]])
    }

    /// What the query ranges over.
    public enum Source: String, Sendable, Hashable {
        case devices
        case modules = "devices.modules"
    }

    public var selection: Selection
    public var source: Source
    public var condition: QueryExpression?

    // MARK: Limits

    /// The longest query text accepted, in UTF-8 bytes: 8 KiB. IoT Hub refuses queries longer than about 8,200
    /// characters (its quotas page gives no number; users report PreconditionFailed past that size), so a query that
    /// IoT Hub runs is not refused here; the bound also caps the work one request causes in the lexer and parser.
    public static let maximumLength = 8 * 1024

    /// The most conditions (comparisons, `IN`/`NIN` tests, function calls and bare values where a condition is
    /// expected, including function arguments) a query may have. At the shortest (`a OR a OR …`), 8 KiB of text
    /// holds about 1,600; a realistic condition such as `deviceId = 'pump-0042'` takes 20 bytes or more, so
    /// 8 KiB holds at most a few hundred. 1,000 therefore admits anything IoT Hub would run.
    public static let maximumConditions = 1000

    /// The deepest nesting of parentheses, `NOT` and function calls in a condition (each adds a level:
    /// `NOT (a = 1)` is two deep). Real queries nest a handful of levels; 64 is generous, and bounds the recursion
    /// of the parser and of ``QueryExpression/evaluate(on:)`` to well under 100 KiB of stack.
    public static let maximumNestingDepth = 64

    /// Parses a query. Throws ``QueryError`` with the offset and what was expected, also when the query is longer
    /// than ``maximumLength``, has more than ``maximumConditions`` conditions or nests deeper than
    /// ``maximumNestingDepth``.
    public init(parsing text: String) throws(QueryError) {
        let length = text.utf8.count
        guard length <= Self.maximumLength else {
            throw QueryError(offset: 0, message: "the query is \(length) bytes long; queries are limited to "
                + "\(Self.maximumLength) bytes, as in IoT Hub, so shorten it (for example with IN [...]) or split it")
        }
        var parser = QueryParser(tokens: try QueryLexer.tokenize(text))
        self = try parser.parseQuery()
    }

    init(selection: Selection, source: Source, condition: QueryExpression?) {
        self.selection = selection
        self.source = source
        self.condition = condition
    }

    /// Whether a twin document satisfies the condition.
    public func matches(_ document: JSONValue) -> Bool {
        guard let condition else { return true }
        return condition.evaluate(on: document) == .bool(true)
    }

    /// The result row for a matching document (for `.all` and `.fields`).
    public func project(_ document: JSONValue) -> JSONValue {
        switch selection {
        case .all, .count: return document
        case .fields(let paths):
            var object = JSONObject()
            for path in paths {
                if let value = QueryExpression.resolve(path, in: document) { object[path.last ?? ""] = value }
            }
            return .object(object)
        }
    }
}

/// A query could not be parsed.
public struct QueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Character offset in the query text.
    public var offset: Int
    public var message: String

    public var description: String { "query error at character \(offset): \(message)" }

    /// IoT Hub answers bad queries with 400 ArgumentInvalid.
    public var errorCode: IoTHubErrorCode { .argumentInvalid }
}
