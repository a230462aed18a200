import Testing
@testable import IoTHubProtocol

@Suite("Twin device and service views")
struct TwinViewsTests {
    func sample() throws -> Twin {
        var twin = Twin(createdAt: twinTime(0))
        try twin.applyTagsPatch(["site": ["plant": 7]])
        try twin.applyDesiredPatch(["rate": 5, "mode": ["eco": true]], at: twinTime(1))
        try twin.applyReportedPatch(["rate": 5, "fw": "1.2"], at: twinTime(2))
        return twin
    }

    @Test("device view: desired and reported with $version only, as on the MQTT twin GET")
    func deviceView() throws {
        let twin = try sample()
        #expect(twin.deviceJSON.description
                == #"{"desired":{"rate":5,"mode":{"eco":true},"$version":2},"reported":{"rate":5,"fw":"1.2","$version":2}}"#)
        let parsed = try TwinProperties(parsing: JSONValue(parsing: twin.deviceJSON.description))
        #expect(parsed.desired.properties == twin.desired.properties)
        #expect(parsed.reported.version == 2)
        #expect(parsed.desired.metadata == nil)
        #expect(parsed.deviceJSON == twin.deviceJSON)
    }

    @Test("service view: etag, version, tags and properties with $metadata")
    func serviceView() throws {
        let twin = try sample()
        let t0 = "2023-11-14T22:13:20.0000000Z", t1 = "2023-11-14T22:13:21.0000000Z", t2 = "2023-11-14T22:13:22.0000000Z"
        let expected = """
            {"etag":"AAAAAAAAAAM=","version":3,"tags":{"site":{"plant":7}},"properties":{\
            "desired":{"rate":5,"mode":{"eco":true},"$metadata":{"$lastUpdated":"\(t1)","$lastUpdatedVersion":2,\
            "rate":{"$lastUpdated":"\(t1)","$lastUpdatedVersion":2},"mode":{"$lastUpdated":"\(t1)","$lastUpdatedVersion":2,\
            "eco":{"$lastUpdated":"\(t1)","$lastUpdatedVersion":2}}},"$version":2},\
            "reported":{"rate":5,"fw":"1.2","$metadata":{"$lastUpdated":"\(t2)","rate":{"$lastUpdated":"\(t2)"},\
            "fw":{"$lastUpdated":"\(t2)"}},"$version":2}}}
            """
        #expect(twin.serviceJSON.description == expected)
        #expect(!expected.contains(t0))
        #expect(try Twin(parsing: JSONValue(parsing: expected)) == twin)
    }

    @Test("a hand-written service document with identity fields, 3-digit times and extra metadata parses")
    func foreignServiceDocument() throws {
        let text = """
            {
              "deviceId": "pump-1", "etag": "AAAAAAAAAAU=", "status": "enabled", "version": 5,
              "tags": {"zone": "north"},
              "properties": {
                "desired": {
                  "interval": 30,
                  "$metadata": {
                    "$lastUpdated": "2021-05-20T21:05:36.195Z", "$lastUpdatedVersion": 4,
                    "interval": {"$lastUpdated": "2021-05-20T21:05:15.148Z", "$lastUpdatedVersion": 3,
                                 "$lastUpdatedBy": "config-a", "$lastUpdatedByDigest": "637570574076206429"}
                  },
                  "$version": 4
                },
                "reported": {"battery": {"level": 55}, "$version": 9,
                             "$metadata": {"$lastUpdated": "2021-05-21T08:00:00.1234567Z"}}
              }
            }
            """
        let twin = try Twin(parsing: JSONValue(parsing: text))
        #expect(twin.version == 5 && twin.etag == "AAAAAAAAAAU=")
        #expect(twin.tags == ["zone": "north"])
        #expect(twin.desired.properties == ["interval": 30] && twin.desired.version == 4)
        #expect(twin.desired.metadata?.node(at: ["interval"])
                == TwinMetadata(lastUpdated: Timestamp(secondsSince1970: 1_621_544_715, nanoseconds: 148_000_000),
                                lastUpdatedVersion: 3))
        // Missing nodes inherit their parent's stamp.
        let reportedRoot = Timestamp(secondsSince1970: 1_621_584_000, nanoseconds: 123_456_700)
        #expect(twin.reported.metadata?.node(at: ["battery", "level"]) == TwinMetadata(lastUpdated: reportedRoot))
        // Parsing what we render gives the same twin again.
        #expect(try Twin(parsing: .object(twin.serviceJSON)) == twin)
    }

    @Test("malformed documents name the member at fault")
    func malformed() {
        /// A twin whose desired `$metadata` is `metadata`.
        func withMetadata(_ metadata: String) -> String {
            #"{"version":2,"properties":{"desired":{"$version":1,"$metadata":"# + metadata + #"},"reported":{"$version":1}}}"#
        }
        let cases: [(String, TwinError)] = [
            ("[]", .notAnObject(path: "twin", found: "array")),
            (#"{"properties":{}}"#, .malformedDocument(path: "version", reason: "missing, or not an integer")),
            (#"{"version":"2","properties":{}}"#, .malformedDocument(path: "version", reason: "missing, or not an integer")),
            (#"{"version":2}"#, .malformedDocument(path: "properties", reason: "missing")),
            (#"{"version":2,"tags":[],"properties":{}}"#, .notAnObject(path: "tags", found: "array")),
            (#"{"version":2,"properties":{"reported":{"$version":1}}}"#,
             .malformedDocument(path: "properties.desired", reason: "missing")),
            (#"{"version":2,"properties":{"desired":{"$version":1}}}"#,
             .malformedDocument(path: "properties.reported", reason: "missing")),
            (#"{"version":2,"properties":{"desired":{},"reported":{"$version":1}}}"#,
             .malformedDocument(path: "properties.desired.$version", reason: "missing, or not an integer")),
            (withMetadata("7"),
             .notAnObject(path: "properties.desired.$metadata", found: "number")),
            (withMetadata("{}"),
             .malformedDocument(path: "properties.desired.$metadata.$lastUpdated",
                                reason: "expected an ISO 8601 time string, found nothing")),
            (withMetadata(#"{"$lastUpdated":"yesterday"}"#),
             .malformedDocument(path: "properties.desired.$metadata.$lastUpdated",
                                reason: "\"yesterday\" is not an ISO 8601 time")),
            (withMetadata(#"{"$lastUpdated":"2021-05-21T08:00:00Z","$lastUpdatedVersion":true}"#),
             .malformedDocument(path: "properties.desired.$metadata.$lastUpdatedVersion",
                                reason: "expected an integer, found boolean")),
        ]
        for (text, error) in cases {
            #expect(throws: error, "\(text)") { try Twin(parsing: JSONValue(parsing: text)) }
        }
    }

    // MARK: Random histories

    static let keys = ["a", "b", "c", "temp", "ünï", "x-y"]

    static func randomPatch(_ random: inout TestRandom, depth: Int) -> JSONValue {
        let count = Int.random(in: 0...3, using: &random)
        return .object(JSONObject((0..<count).map { _ in
            let key = keys.randomElement(using: &random)!
            let value: JSONValue = switch Int.random(in: 0..<(depth > 0 ? 7 : 5), using: &random) {
            case 0: .null
            case 1: .integer(Int64.random(in: -50...50, using: &random))
            case 2: .string(random.string(from: Array("ab é\"\\"), maxLength: 5, minLength: 0))
            case 3: .bool(Bool.random(using: &random))
            case 4: [1.5, "s"]
            default: randomPatch(&random, depth: depth - 1)
            }
            return (key, value)
        }))
    }

    /// Every property has a metadata node and no node lacks a property.
    static func mirrors(_ metadata: TwinMetadata, _ properties: JSONObject) -> Bool {
        guard Set(metadata.children.keys) == Set(properties.keys) else { return false }
        return properties.allSatisfy { key, value in
            let child = metadata.children[key]!
            if case .object(let object) = value { return mirrors(child, object) }
            return child.children.isEmpty
        }
    }

    @Test("random update histories: both views round-trip and metadata mirrors the properties", arguments: [31, 32])
    func randomHistories(seed: UInt64) throws {
        var random = TestRandom(seed: seed)
        var twin = Twin(createdAt: twinTime(0))
        for step in 1...300 {
            let now = twinTime(Int64(step), nanoseconds: Int32.random(in: 0..<1_000_000_000, using: &random))
            let patch = Self.randomPatch(&random, depth: 3)
            switch Int.random(in: 0..<5, using: &random) {
            case 0: try twin.applyTagsPatch(patch)
            case 1: try twin.applyDesiredPatch(patch, at: now)
            case 2: try twin.replaceDesired(patch, at: now)
            default: try twin.applyReportedPatch(patch, at: now)
            }
            let service = try Twin(parsing: JSONValue(parsing: twin.serviceJSON.description))
            #expect(service == twin)
            let device = try TwinProperties(parsing: JSONValue(parsing: twin.deviceJSON.description))
            #expect(device.desired.properties == twin.desired.properties)
            #expect(device.reported.properties == twin.reported.properties)
            #expect(device.deviceJSON.description == twin.deviceJSON.description)
            #expect(Self.mirrors(try #require(twin.desired.metadata), twin.desired.properties))
            #expect(Self.mirrors(try #require(twin.reported.metadata), twin.reported.properties))
            let root = try #require(twin.desired.metadata)
            #expect(root.children.values.allSatisfy { $0.lastUpdated <= root.lastUpdated })
        }
    }
}
