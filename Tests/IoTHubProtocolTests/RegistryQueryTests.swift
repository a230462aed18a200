import Testing
@testable import IoTHubProtocol

@Suite("registry query language")
struct RegistryQueryTests {
    let twin: JSONValue = [
        "deviceId": "thermo-1", "status": "enabled", "connectionState": "Connected",
        "tags": ["floor": 3, "site": "lab", "owner": ["name": "ann"]],
        "properties": ["desired": ["setpoint": 21.5], "reported": ["firmware": "1.2.0", "ok": true, "missingNull": .null]],
        "capabilities": ["iotEdge": false],
    ]

    func check(_ text: String) throws -> Bool {
        try RegistryQuery(parsing: "SELECT * FROM devices WHERE " + text).matches(twin)
    }

    @Test("comparisons on strings, numbers and booleans; missing fields never match", arguments: [
        ("deviceId = 'thermo-1'", true), ("tags.floor >= 3", true), ("tags.floor > 3", false), ("tags.floor <> 2", true),
        ("tags.floor != 3", false), ("properties.desired.setpoint < 22", true), ("properties.reported.ok = true", true),
        ("tags.site = \"lab\"", true), ("tags.owner.name = 'ann'", true), ("tags.nothing = 'x'", false),
        ("tags.nothing != 'x'", false), ("tags.floor = '3'", false), ("capabilities.iotEdge = false", true),
        ("devices.tags.floor = 3", true), ("properties.reported.firmware > '1.1'", true),
        ("properties.reported.missingNull = null", true),
    ])
    func comparisons(condition: String, expected: Bool) throws {
        #expect(try check(condition) == expected, "\(condition)")
    }

    @Test("AND, OR, NOT, parentheses, IN and NIN", arguments: [
        ("tags.floor = 3 AND status = 'enabled'", true), ("tags.floor = 2 OR status = 'enabled'", true),
        ("NOT tags.floor = 2", true), ("NOT (tags.floor = 3 AND status = 'enabled')", false),
        ("tags.site IN ['lab', 'plant']", true), ("tags.site NIN ['lab']", false), ("tags.floor IN [1, 2]", false),
        ("(tags.floor = 1 OR tags.floor = 3) AND connectionState = 'Connected'", true),
        ("tags.floor = 1 OR tags.floor = 2 AND tags.floor = 3", false),
    ])
    func logic(condition: String, expected: Bool) throws {
        #expect(try check(condition) == expected, "\(condition)")
    }

    @Test("functions", arguments: [
        ("IS_DEFINED(tags.site)", true), ("IS_DEFINED(tags.nope)", false), ("IS_NUMBER(tags.floor)", true),
        ("IS_STRING(tags.floor)", false), ("IS_OBJECT(tags.owner)", true), ("IS_BOOL(properties.reported.ok)", true),
        ("IS_NULL(properties.reported.missingNull)", true), ("STARTSWITH(deviceId, 'thermo')", true),
        ("ENDSWITH(deviceId, '-2')", false), ("CONTAINS(properties.reported.firmware, '.2.')", true),
        ("is_defined(tags.site)", true), ("IS_PRIMITIVE(tags.owner)", false),
    ])
    func functions(condition: String, expected: Bool) throws {
        #expect(try check(condition) == expected, "\(condition)")
    }

    @Test("selections and sources")
    func selections() throws {
        #expect(try RegistryQuery(parsing: "select * from devices").selection == .all)
        #expect(try RegistryQuery(parsing: "SELECT COUNT() AS total FROM devices").selection == .count(alias: "total"))
        let fields = try RegistryQuery(parsing: "SELECT deviceId, tags.site FROM devices.modules")
        #expect(fields.source == .modules)
        #expect(fields.project(twin) == ["deviceId": "thermo-1", "site": "lab"])
        #expect(try RegistryQuery(parsing: "SELECT * FROM devices WHERE deviceId = 'it''s'").condition
                == .compare(.field(["deviceId"]), .equal, .literal("it's")))
    }

    @Test("bad queries give the position and what was expected", arguments: [
        "", "SELECT", "SELECT * FROM", "SELECT * FROM things", "SELECT * FROM devices WHERE", "SELECT * FROM devices WHERE tags.x = 'open",
        "SELECT * FROM devices WHERE tags.x = = 1", "SELECT * FROM devices WHERE (tags.x = 1", "SELECT * FROM devices extra",
        "SELECT * FROM devices WHERE IS_DEFINED(a, b)", "SELECT * FROM devices WHERE tags.x IN [1, 2", "SELECT * FROM devices WHERE a ! b",
        "SELECT * FROM devices WHERE #",
    ])
    func errors(text: String) {
        #expect(throws: QueryError.self) { try RegistryQuery(parsing: text) }
    }

    @Test("deep nesting is an error, not a crash")
    func deepNesting() {
        let text = "SELECT * FROM devices WHERE " + String(repeating: "(", count: 10_000) + "a = 1" + String(repeating: ")", count: 10_000)
        #expect(throws: QueryError.self) { try RegistryQuery(parsing: text) }
        let nots = "SELECT * FROM devices WHERE " + String(repeating: "NOT ", count: 100_000) + "a = 1"
        #expect(throws: QueryError.self) { try RegistryQuery(parsing: nots) }
    }
}
