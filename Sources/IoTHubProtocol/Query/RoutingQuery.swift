/// A message-routing condition in IoT Hub's routing query language, evaluated against one message.
///
/// The condition is the registry query language's `WHERE` part (comparisons, `IN`/`NIN`, `AND`/`OR`/`NOT`,
/// parentheses and the same functions) over these names:
///
/// - an application property by its name: `level = 'critical'` (values are strings);
/// - a system property with `$`: `$connectionDeviceId`, `$connectionModuleId`, `$contentType`,
///   `$contentEncoding`, `$messageId`, `$correlationId`, `$userId`, `$enqueuedTime`, `$connectionAuthMethod`,
///   `$connectionDeviceGenerationId`, `$dt-dataschema` (as `$interfaceId` too), `$outputName`;
/// - the body with `$body.a.b`, only for a message whose content type is `application/json` and whose content
///   encoding is `utf-8`, `utf-16` or `utf-32` (otherwise `$body` is undefined, and a comparison with it false);
/// - the sender's twin with `$twin.tags.x`, `$twin.properties.desired.x` and `$twin.properties.reported.x`.
///
/// `true` routes everything. As in IoT Hub, a comparison with an undefined name is false.
///
/// ```swift
/// let route = try RoutingQuery(parsing: "$body.temperature > 50 AND level = 'critical'")
/// route.matches(RoutingMessage(body: bytes, contentType: "application/json", contentEncoding: "utf-8",
///                              applicationProperties: ["level": "critical"]))
/// ```
public struct RoutingQuery: Sendable, Hashable {
    public let text: String
    public let condition: QueryExpression

    /// Parses a condition.
    /// - Throws: ``QueryError`` with the character offset and what was expected; also for a condition longer than
    ///   ``RegistryQuery/maximumLength`` or with trailing text.
    public init(parsing text: String) throws(QueryError) {
        let length = text.utf8.count
        guard length <= RegistryQuery.maximumLength else {
            throw QueryError(offset: 0, message: "the condition is \(length) bytes long; at most \(RegistryQuery.maximumLength)")
        }
        guard !text.allSatisfy({ $0.isWhitespace }) else {
            throw QueryError(offset: 0, message: "the condition is empty; use true to route every message")
        }
        var parser = QueryParser(tokens: try QueryLexer.tokenize(text))
        let condition = try parser.parseOr()
        guard parser.current == .end else { throw parser.error("unexpected text after the condition") }
        self.text = text
        self.condition = condition
    }

    /// Whether `message` satisfies the condition.
    public func matches(_ message: RoutingMessage) -> Bool {
        condition.evaluate(on: message.document) == .bool(true)
    }
}

/// What a routing condition sees of a message.
public struct RoutingMessage: Sendable {
    /// The document the condition's names resolve in: application properties, `$`-named system properties,
    /// `$body` (when the message is JSON) and `$twin`.
    public let document: JSONValue

    /// - Parameters:
    ///   - systemProperties: by IoT Hub's names (`iothub-connection-device-id`, `message-id`, …, as
    ///     ``MessageSystemProperties/namedValues`` gives them).
    ///   - twin: the sender's twin (`tags`, `properties.desired`, `properties.reported`), when routing needs it.
    public init(body: [UInt8], contentType: String?, contentEncoding: String?, applicationProperties: [String: String],
                systemProperties: [String: String] = [:], twin: JSONValue? = nil) {
        var object = JSONObject()
        for (name, value) in applicationProperties { object[name] = .string(value) }
        for (name, value) in systemProperties {
            if let alias = Self.systemNames[name] { object[alias] = .string(value) }
        }
        if let contentType { object["$contentType"] = .string(contentType) }
        if let contentEncoding { object["$contentEncoding"] = .string(contentEncoding) }
        if let body = Self.jsonBody(body, contentType: contentType, contentEncoding: contentEncoding) {
            object["$body"] = body
        }
        if let twin { object["$twin"] = twin }
        document = .object(object)
    }

    /// A message for conditions that read only `names` (``QueryExpression/fieldRoots``): what no condition reads
    /// is left out of the document, and the body is parsed only when `$body` is read.
    /// - Parameters:
    ///   - applicationProperties: name and value pairs, in any order (a later pair wins).
    ///   - systemProperties: by IoT Hub's names, as pairs.
    public init(body: [UInt8], applicationProperties: [(String, String)], systemProperties: [(String, String)],
                twin: JSONValue?, reading names: Set<String>) {
        var object = JSONObject()
        for (name, value) in applicationProperties where names.contains(name) { object[name] = .string(value) }
        var contentType: String?
        var contentEncoding: String?
        for (name, value) in systemProperties {
            if name == "content-type" { contentType = value } else if name == "content-encoding" { contentEncoding = value }
            if let alias = Self.systemNames[name], names.contains(alias) { object[alias] = .string(value) }
        }
        if names.contains("$contentType"), let contentType { object["$contentType"] = .string(contentType) }
        if names.contains("$contentEncoding"), let contentEncoding { object["$contentEncoding"] = .string(contentEncoding) }
        if names.contains("$body"), let body = Self.jsonBody(body, contentType: contentType, contentEncoding: contentEncoding) {
            object["$body"] = body
        }
        if names.contains("$twin"), let twin { object["$twin"] = twin }
        document = .object(object)
    }

    /// IoT Hub's system property names as routing queries spell them.
    static let systemNames: [String: String] = [
        "iothub-connection-device-id": "$connectionDeviceId", "iothub-connection-module-id": "$connectionModuleId",
        "iothub-connection-auth-method": "$connectionAuthMethod",
        "iothub-connection-auth-generation-id": "$connectionDeviceGenerationId",
        "iothub-enqueuedtime": "$enqueuedTime", "message-id": "$messageId", "correlation-id": "$correlationId",
        "user-id": "$userId", "dt-dataschema": "$dt-dataschema", "iothub-outputname": "$outputName",
        "iothub-message-source": "$messageSource",
    ]

    /// The body as JSON, when the content type and encoding say it is.
    static func jsonBody(_ body: [UInt8], contentType: String?, contentEncoding: String?) -> JSONValue? {
        guard let type = contentType?.lowercased().split(separator: ";").first.map({ String($0).trimmingASCIIWhitespace() }),
              type == "application/json", let encoding = contentEncoding?.lowercased() else { return nil }
        let text: String?
        switch encoding {
        case "utf-8", "utf8": text = String(validating: body, as: UTF8.self)
        case "utf-16", "utf16": text = decodeUTF16(body)
        case "utf-32", "utf32": text = decodeUTF32(body)
        default: text = nil
        }
        guard let text else { return nil }
        return try? JSONValue(parsing: text)
    }

    /// UTF-16 with an optional byte-order mark, little-endian without one.
    static func decodeUTF16(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 2 == 0 else { return nil }
        var bigEndian = false
        var start = 0
        if bytes.count >= 2, bytes[0] == 0xFE, bytes[1] == 0xFF { (bigEndian, start) = (true, 2) }
        else if bytes.count >= 2, bytes[0] == 0xFF, bytes[1] == 0xFE { start = 2 }
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        for index in stride(from: start, to: bytes.count, by: 2) {
            let (high, low) = bigEndian ? (bytes[index], bytes[index + 1]) : (bytes[index + 1], bytes[index])
            units.append(UInt16(high) << 8 | UInt16(low))
        }
        return String(validating: units, as: UTF16.self)
    }

    /// UTF-32 with an optional byte-order mark, little-endian without one.
    static func decodeUTF32(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var bigEndian = false
        var start = 0
        if bytes.starts(with: [0x00, 0x00, 0xFE, 0xFF]) { (bigEndian, start) = (true, 4) }
        else if bytes.starts(with: [0xFF, 0xFE, 0x00, 0x00]) { start = 4 }
        var scalars = String.UnicodeScalarView()
        for index in stride(from: start, to: bytes.count, by: 4) {
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = UInt32(bytes[bigEndian ? index + offset : index + 3 - offset])
                value = value << 8 | byte
            }
            guard let scalar = Unicode.Scalar(value) else { return nil }
            scalars.append(scalar)
        }
        return String(scalars)
    }
}
