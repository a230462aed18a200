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

    /// Parses a query. Throws ``QueryError`` with the offset and what was expected.
    public init(parsing text: String) throws(QueryError) {
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
