@testable import IoTHubProtocol
import Testing

@Suite("routing query: conditions over application properties, system properties, the body and the twin")
struct RoutingQueryTests {
    static func json(_ text: String, encoding: String = "utf-8", properties: [String: String] = [:]) -> RoutingMessage {
        RoutingMessage(body: Array(text.utf8), contentType: "application/json", contentEncoding: encoding,
                       applicationProperties: properties,
                       systemProperties: ["iothub-connection-device-id": "pump-7", "message-id": "m1"])
    }

    @Test("application properties, system properties and $body, with every operator")
    func conditions() throws {
        let message = Self.json(#"{"temperature": 61.5, "site": {"name": "north"}, "ok": true}"#,
                                properties: ["level": "critical", "count": "3"])
        func check(_ condition: String) throws -> Bool { try RoutingQuery(parsing: condition).matches(message) }
        #expect(try check("true"))
        #expect(try check("level = 'critical'"))
        #expect(try !check("level = 'info'"))
        #expect(try check("level IN ['warning', 'critical']") && check("level NIN ['info']"))
        #expect(try check("$connectionDeviceId = 'pump-7' AND $messageId = 'm1'"))
        #expect(try check("$contentType = 'application/json' AND $contentEncoding = 'utf-8'"))
        #expect(try check("$body.temperature > 50") && !check("$body.temperature <= 50"))
        #expect(try check("$body.site.name = 'north' AND $body.ok = true"))
        #expect(try check("NOT ($body.temperature < 10) OR missing = 'x'"))
        #expect(try check("IS_DEFINED($body.site) AND STARTSWITH($connectionDeviceId, 'pump')"))
        // Undefined names compare false, whatever the operator.
        #expect(try !check("missing = 'x'") && !check("missing != 'x'") && !check("$body.nothing > 1"))
        // Application properties are strings.
        #expect(try check("count = '3'") && !check("count = 3"))
    }

    @Test("$body exists only for JSON content with a UTF encoding")
    func bodyNeedsJSON() throws {
        let condition = try RoutingQuery(parsing: "$body.a = 1")
        #expect(condition.matches(Self.json(#"{"a": 1}"#)))
        #expect(condition.matches(Self.json(#"{"a": 1}"#, encoding: "UTF-8")))
        var utf16: [UInt8] = [0xFF, 0xFE]
        for unit in #"{"a": 1}"#.utf16 { utf16 += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        #expect(condition.matches(RoutingMessage(body: utf16, contentType: "application/json", contentEncoding: "utf-16",
                                                 applicationProperties: [:])))
        let utf32 = #"{"a": 1}"#.unicodeScalars.flatMap { scalar -> [UInt8] in
            let v = scalar.value
            return [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
        }
        #expect(condition.matches(RoutingMessage(body: utf32, contentType: "application/json; charset=utf-32",
                                                 contentEncoding: "utf-32", applicationProperties: [:])))
        #expect(!condition.matches(RoutingMessage(body: Array(#"{"a": 1}"#.utf8), contentType: "text/plain",
                                                  contentEncoding: "utf-8", applicationProperties: [:])))
        #expect(!condition.matches(RoutingMessage(body: Array(#"{"a": 1}"#.utf8), contentType: "application/json",
                                                  contentEncoding: nil, applicationProperties: [:])))
        #expect(!condition.matches(Self.json("not json")))
    }

    @Test("$twin tags and properties")
    func twin() throws {
        let twin = try JSONValue(parsing: #"{"tags": {"floor": 3}, "properties": {"desired": {"mode": "eco"}, "reported": {}}}"#)
        let message = RoutingMessage(body: [], contentType: nil, contentEncoding: nil, applicationProperties: [:], twin: twin)
        #expect(try RoutingQuery(parsing: "$twin.tags.floor >= 3").matches(message))
        #expect(try RoutingQuery(parsing: "$twin.properties.desired.mode = 'eco'").matches(message))
        #expect(try !RoutingQuery(parsing: "$twin.tags.building = 'b'").matches(message))
    }

    @Test("a bad condition is refused with the position and the reason")
    func badConditions() {
        func failure(_ text: String) -> QueryError? {
            do { _ = try RoutingQuery(parsing: text); return nil } catch { return error }
        }
        #expect(failure("")?.message.contains("empty") == true)
        #expect(failure("level = 'critical")?.offset == 8)
        #expect(failure("level = 'a' level = 'b'")?.message.contains("after the condition") == true)
        #expect(failure("$body.a >")?.offset == 9)
        #expect(failure("(a = 1")?.message.contains(")") == true)
        #expect(failure(String(repeating: "a", count: RegistryQuery.maximumLength + 1)) != nil)
    }

    @Test("a message built for the names conditions read evaluates as the full one")
    func namesReadOnly() throws {
        let query = try RoutingQuery(parsing: "level = 'critical' AND $connectionDeviceId = 'd1' AND $body.t > 5 AND $contentType = 'application/json'")
        #expect(query.condition.fieldRoots == ["level", "$connectionDeviceId", "$body", "$contentType"])
        let body = Array(#"{"t":9}"#.utf8)
        let system = [("iothub-connection-device-id", "d1"), ("content-type", "application/json"), ("content-encoding", "utf-8"),
                      ("iothub-connection-auth-method", #"{"scope":"device"}"#)]
        let lean = RoutingMessage(body: body, applicationProperties: [("level", "critical"), ("other", "x")], systemProperties: system,
                                  twin: nil, reading: query.condition.fieldRoots)
        #expect(query.matches(lean))
        #expect(lean.document["other"] == nil && lean.document["$connectionAuthMethod"] == nil, "what no condition reads is left out")
        let full = RoutingMessage(body: body, contentType: "application/json", contentEncoding: "utf-8",
                                  applicationProperties: ["level": "critical"],
                                  systemProperties: Dictionary(system, uniquingKeysWith: { $1 }))
        #expect(query.matches(full))
        let wrongDevice = RoutingMessage(body: body, applicationProperties: [("level", "critical")],
                                         systemProperties: [("iothub-connection-device-id", "d2"), ("content-type", "application/json"),
                                                            ("content-encoding", "utf-8")],
                                         twin: nil, reading: query.condition.fieldRoots)
        #expect(!query.matches(wrongDevice))
        // DEVICES.x is the devices alias only when the document has no such property.
        #expect(QueryExpression.isAlias("DeViCeS", "devices") && !QueryExpression.isAlias("device", "devices"))
    }
}
