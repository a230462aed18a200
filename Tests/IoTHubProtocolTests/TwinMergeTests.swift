import Testing
@testable import IoTHubProtocol

/// A fixed instant `offset` seconds after 2023-11-14T22:13:20Z.
func twinTime(_ offset: Int64, nanoseconds: Int32 = 0) -> Timestamp {
    Timestamp(secondsSince1970: 1_700_000_000 + offset, nanoseconds: nanoseconds)
}

@Suite("Twin patch merging")
struct TwinMergeTests {
    /// A reported section holding `properties` after one patch (version 2).
    func section(_ properties: JSONValue, kind: TwinCollection.Kind = .reported) throws -> TwinCollection {
        var section = TwinCollection(kind: kind, createdAt: twinTime(0))
        try section.applyPatch(properties, at: twinTime(1))
        return section
    }

    @Test("nested objects merge recursively; new keys are appended in patch order")
    func nested() throws {
        var section = try section(["a": ["b": 1, "c": 2], "d": "x"])
        try section.applyPatch(["a": ["c": 3, "e": ["f": true]], "g": 1.5], at: twinTime(2))
        #expect(section.properties == ["a": ["b": 1, "c": 3, "e": ["f": true]], "d": "x", "g": 1.5])
        #expect(section.properties["a"]?.objectValue?.keys == ["b", "c", "e"])
        #expect(section.properties.keys == ["a", "d", "g"])
    }

    @Test("null deletes a nested key; deleting the last key leaves an empty object")
    func nullDeletesNested() throws {
        var section = try section(["a": ["b": 1, "c": 2], "d": "x"])
        try section.applyPatch(["a": ["b": .null]], at: twinTime(2))
        #expect(section.properties == ["a": ["c": 2], "d": "x"])
        try section.applyPatch(["a": ["c": .null], "d": .null], at: twinTime(3))
        #expect(section.properties == ["a": .object([:])])
        #expect(section.metadata?.node(at: ["a"])?.children.isEmpty == true)
        #expect(section.metadata?.children["d"] == nil)
    }

    @Test("null on a missing key changes nothing but still counts as an update")
    func nullOnMissingKey() throws {
        var section = try section(["a": ["b": 1]])
        let before = section.properties
        try section.applyPatch(["zzz": .null, "a": ["missing": .null]], at: twinTime(2))
        #expect(section.properties == before)
        #expect(section.version == 3)
    }

    @Test("arrays replace whole (they never merge)")
    func arraysReplace() throws {
        var section = try section(["list": [1, 2, 3], "objects": [["k": 1], ["k": 2]]])
        try section.applyPatch(["list": [4], "objects": [["j": 3]]], at: twinTime(2))
        #expect(section.properties == ["list": [4], "objects": [["j": 3]]])
    }

    @Test("a scalar replaces an object and an object replaces a scalar (its nulls dropped)")
    func scalarsAndObjects() throws {
        var section = try section(["a": ["b": 1], "s": "text"])
        try section.applyPatch(["a": 5, "s": ["x": ["y": .null, "z": 1], "gone": .null]], at: twinTime(2))
        #expect(section.properties == ["a": 5, "s": ["x": ["z": 1]]])
        #expect(section.metadata?.node(at: ["a"])?.children.isEmpty == true)
        #expect(section.metadata?.node(at: ["s", "x", "z"]) != nil)
        try section.applyPatch(["a": true, "s": [1, "two"]], at: twinTime(3))
        #expect(section.properties == ["a": true, "s": [1, "two"]])
        #expect(section.metadata?.node(at: ["s"])?.children.isEmpty == true)
    }

    @Test("every accepted patch adds one to the version, even an empty one")
    func versions() throws {
        var section = TwinCollection(kind: .desired, createdAt: twinTime(0))
        #expect(section.version == 1)
        let patches: [JSONValue] = [["a": 1], .object([:]), ["a": .null], ["b": ["c": 2]]]
        for (index, patch) in patches.enumerated() {
            try section.applyPatch(patch, at: twinTime(Int64(index)))
            #expect(section.version == Int64(index) + 2)
        }
        try section.replace(with: ["x": 1], at: twinTime(9))
        #expect(section.version == 6)
        #expect(section.properties == ["x": 1])
    }

    @Test("the notification is the patch (nulls included) plus the new $version")
    func notification() throws {
        var section = try section(["a": 1, "b": 2], kind: .desired)
        let body = try section.applyPatch(["b": .null, "c": ["d": 1], "$version": 99], at: twinTime(2))
        #expect(body.description == #"{"b":null,"c":{"d":1},"$version":3}"#)
        let replaced = try section.replace(with: ["z": 1, "n": .null], at: twinTime(3))
        #expect(replaced.description == #"{"z":1,"$version":4}"#)
        #expect(section.properties == ["z": 1])
    }

    @Test("$version and $metadata echoed from a read twin are ignored at the top of a patch")
    func ignoredSystemMembers() throws {
        var section = try section(["a": 1], kind: .desired)
        let echoed = JSONValue.object(section.serviceJSON)
        try section.applyPatch(echoed, at: twinTime(2))
        #expect(section.properties == ["a": 1])
        #expect(section.version == 3)
        #expect(throws: TwinError.invalidKey(path: "properties.desired.a.$version", reason:
            "contains '$', which IoT Hub reserves for system properties such as $version")) {
            try section.applyPatch(["a": ["$version": 1]], at: twinTime(3))
        }
    }

    @Test("device side: a received notification merges and sets the version; metadata is dropped")
    func deviceNotification() throws {
        var desired = try TwinCollection(parsing: JSONValue(parsing: #"{"rate":5,"mode":{"eco":true},"$version":3}"#),
                                         kind: .desired)
        #expect(desired.metadata == nil)
        try desired.applyNotification(JSONValue(parsing: #"{"mode":{"eco":null,"turbo":1},"$version":4}"#))
        #expect(desired.properties == ["rate": 5, "mode": ["turbo": 1]])
        #expect(desired.version == 4)
        #expect(throws: TwinError.malformedDocument(path: "properties.desired.$version",
                                                    reason: "a notification must carry an integer $version")) {
            try desired.applyNotification(["rate": 6])
        }
        #expect(throws: TwinError.notAnObject(path: "properties.desired", found: "array")) {
            try desired.applyNotification([1])
        }
    }
}
