import Testing
@testable import IoTHubProtocol

@Suite("Twin metadata")
struct TwinMetadataTests {
    @Test("a new section has only a root $lastUpdated")
    func fresh() {
        let desired = TwinCollection(kind: .desired, createdAt: twinTime(0, nanoseconds: 123_456_789))
        #expect(desired.metadata == TwinMetadata(lastUpdated: twinTime(0, nanoseconds: 123_456_700)))
        #expect(desired.serviceJSON.description
                == #"{"$metadata":{"$lastUpdated":"2023-11-14T22:13:20.1234567Z"},"$version":1}"#)
        #expect(desired.deviceJSON.description == #"{"$version":1}"#)
    }

    @Test("a patch stamps the nodes it writes, their ancestors and the root; others keep their stamps")
    func touchedNodesOnly() throws {
        var desired = TwinCollection(kind: .desired, createdAt: twinTime(0))
        try desired.applyPatch(["a": ["b": 1, "c": 2], "d": "x"], at: twinTime(1))   // version 2
        try desired.applyPatch(["a": ["c": 3]], at: twinTime(2))                    // version 3
        let metadata = try #require(desired.metadata)
        func stamp(_ path: [String]) -> TwinMetadata? {
            metadata.node(at: path).map { TwinMetadata(lastUpdated: $0.lastUpdated, lastUpdatedVersion: $0.lastUpdatedVersion) }
        }
        let second = TwinMetadata(lastUpdated: twinTime(2), lastUpdatedVersion: 3)
        let first = TwinMetadata(lastUpdated: twinTime(1), lastUpdatedVersion: 2)
        #expect(stamp([]) == second)
        #expect(stamp(["a"]) == second)
        #expect(stamp(["a", "c"]) == second)
        #expect(stamp(["a", "b"]) == first)
        #expect(stamp(["d"]) == first)
        #expect(metadata.node(at: ["missing"]) == nil)
    }

    @Test("a deletion removes the node and stamps the parent")
    func deletion() throws {
        var reported = TwinCollection(kind: .reported, createdAt: twinTime(0))
        try reported.applyPatch(["a": ["b": 1, "c": 2], "d": "x"], at: twinTime(1))
        try reported.applyPatch(["a": ["b": .null]], at: twinTime(5))
        let metadata = try #require(reported.metadata)
        #expect(metadata.node(at: ["a", "b"]) == nil)
        #expect(metadata.node(at: ["a"])?.lastUpdated == twinTime(5))
        #expect(metadata.node(at: ["a", "c"])?.lastUpdated == twinTime(1))
        #expect(metadata.node(at: ["d"])?.lastUpdated == twinTime(1))
    }

    @Test("reported metadata has no $lastUpdatedVersion; desired has it on every written node")
    func lastUpdatedVersion() throws {
        var reported = TwinCollection(kind: .reported, createdAt: twinTime(0))
        try reported.applyPatch(["x": ["y": 1]], at: twinTime(1))
        #expect(reported.serviceJSON.description == """
            {"x":{"y":1},"$metadata":{"$lastUpdated":"2023-11-14T22:13:21.0000000Z",\
            "x":{"$lastUpdated":"2023-11-14T22:13:21.0000000Z","y":{"$lastUpdated":"2023-11-14T22:13:21.0000000Z"}}},\
            "$version":2}
            """)
        var desired = TwinCollection(kind: .desired, createdAt: twinTime(0))
        try desired.applyPatch(["x": ["y": 1]], at: twinTime(1, nanoseconds: 5_000_100))
        #expect(desired.serviceJSON.description == """
            {"x":{"y":1},"$metadata":{"$lastUpdated":"2023-11-14T22:13:21.0050001Z","$lastUpdatedVersion":2,\
            "x":{"$lastUpdated":"2023-11-14T22:13:21.0050001Z","$lastUpdatedVersion":2,\
            "y":{"$lastUpdated":"2023-11-14T22:13:21.0050001Z","$lastUpdatedVersion":2}}},"$version":2}
            """)
    }

    @Test("metadata children follow the order of the properties")
    func order() throws {
        var reported = TwinCollection(kind: .reported, createdAt: twinTime(0))
        try reported.applyPatch(["z": 1, "a": 2, "m": 3], at: twinTime(1))
        let tree = try #require(reported.serviceJSON["$metadata"]?.objectValue)
        #expect(tree.keys == ["$lastUpdated", "z", "a", "m"])
    }

    @Test("a replacement gives every node the new stamp")
    func replacement() throws {
        var desired = TwinCollection(kind: .desired, createdAt: twinTime(0))
        try desired.applyPatch(["keep": 1, "nested": ["a": 1]], at: twinTime(1))
        try desired.replace(with: ["keep": 1, "nested": ["a": 1, "b": .null]], at: twinTime(7))
        let metadata = try #require(desired.metadata)
        for path in [[], ["keep"], ["nested"], ["nested", "a"]] {
            #expect(metadata.node(at: path)?.lastUpdated == twinTime(7))
            #expect(metadata.node(at: path)?.lastUpdatedVersion == 3)
        }
        #expect(metadata.node(at: ["nested", "b"]) == nil)
    }

    @Test("metadata given with a section is made to mirror its properties")
    func reconcile() {
        let stray = TwinMetadata(lastUpdated: twinTime(9))
        let root = TwinMetadata(lastUpdated: twinTime(3), lastUpdatedVersion: 4, children: ["gone": stray])
        let section = TwinCollection(kind: .desired, properties: ["a": ["b": 1], "$version": 9], version: 4,
                                     metadata: root)
        #expect(section.properties == ["a": ["b": 1]])
        let metadata = section.metadata
        #expect(metadata?.children.keys.sorted() == ["a"])
        #expect(metadata?.node(at: ["a", "b"]) == TwinMetadata(lastUpdated: twinTime(3), lastUpdatedVersion: 4))
    }
}
