import Testing
@testable import IoTHubProtocol

@Suite("JSON values and objects")
struct JSONValueTests {
    @Test("integers and doubles compare and hash by exact numeric value")
    func numericEquality() {
        #expect(JSONValue.integer(1) == .double(1.0))
        #expect(JSONValue.double(-0.0) == .integer(0))
        #expect(JSONValue.integer(1) != .double(1.5))
        #expect(JSONValue.integer(1) != .string("1"))
        #expect(JSONValue.integer(9_007_199_254_740_993) != .double(9_007_199_254_740_992))
        #expect(JSONValue.double(9.3e18) != .integer(.max))
        let set: Set<JSONValue> = [.integer(1), .double(1.0), .double(-0.0), .integer(0), .double(0.5)]
        #expect(set.count == 3)
        #expect(JSONValue.array([1, 2.0]) == [1.0, 2])
        #expect(JSONValue.double(.nan) != .double(.nan))
    }

    @Test("objects compare and hash without regard to key order")
    func objectEquality() {
        let a: JSONObject = ["x": 1, "y": ["z": true]]
        let b: JSONObject = ["y": ["z": true], "x": 1.0]
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != ["x": 1])
        #expect(a != ["x": 1, "w": ["z": true]])
        #expect(Set([JSONValue.object(a), .object(b)]).count == 1)
    }

    @Test("literals build every case")
    func literals() {
        let value: JSONValue = ["s": "text", "i": 3, "d": 2.5, "b": false, "n": .null, "a": [1, "x"], "o": ["k": 1]]
        #expect(value["s"] == .string("text"))
        #expect(value["i"] == .integer(3))
        #expect(value["d"] == .double(2.5))
        #expect(value["b"] == .bool(false))
        #expect(value["n"] == .null)
        #expect(value["a"] == .array([.integer(1), .string("x")]))
        #expect(value["o"] == .object(JSONObject([("k", .integer(1))])))
        #expect(value.objectValue?.keys == ["s", "i", "d", "b", "n", "a", "o"])
    }

    @Test("typed accessors and subscripts return nil for the wrong type or a missing member")
    func accessors() {
        let value: JSONValue = ["list": [10, 2.0, 2.5], "name": "pump", "on": true]
        #expect(value["list"]?[0]?.int64Value == 10)
        #expect(value["list"]?[1]?.int64Value == 2)
        #expect(value["list"]?[2]?.int64Value == nil)
        #expect(value["list"]?[2]?.doubleValue == 2.5)
        #expect(value["list"]?[0]?.doubleValue == 10)
        #expect(value["list"]?[3] == nil)
        #expect(value["list"]?[-1] == nil)
        #expect(value["name"]?.stringValue == "pump")
        #expect(value["name"]?.boolValue == nil)
        #expect(value["on"]?.boolValue == true)
        #expect(value["missing"] == nil)
        #expect(value[0] == nil)
        #expect(JSONValue.string("x")["k"] == nil)
        #expect(value["list"]?.arrayValue?.count == 3)
        #expect(value.objectValue?.count == 3)
        #expect(JSONValue.null.isNull && !JSONValue.bool(false).isNull)
        #expect([JSONValue.null, true, 1, 1.5, "s", [], .object([:])].map(\.typeName)
                == ["null", "boolean", "number", "number", "string", "array", "object"])
    }

    @Test("an object keeps insertion order; replacing keeps the position, removing closes the gap")
    func objectOrder() {
        var object: JSONObject = ["b": 1, "a": 2, "c": 3]
        object["d"] = 4
        object["a"] = 20
        #expect(object.keys == ["b", "a", "c", "d"])
        #expect(object.values == [1, 20, 3, 4])
        #expect(object.removeValue(forKey: "a") == 20)
        #expect(object.removeValue(forKey: "a") == nil)
        #expect(object.keys == ["b", "c", "d"])
        // Lookups after a removal still find the shifted members.
        #expect(object["c"] == 3 && object["d"] == 4 && object["b"] == 1)
        object["b"] = nil
        #expect(object.keys == ["c", "d"])
        object["b"] = .null
        #expect(object.keys == ["c", "d", "b"])
        #expect(object["b"] == .null)
        #expect(object.contains(key: "b") && !object.contains(key: "a"))
        #expect(object.updateValue(5, forKey: "c") == 3)
        #expect(object.map(\.key) == ["c", "d", "b"])
        #expect(object[1].key == "d" && object[1].value == 4)
    }

    @Test("duplicate keys keep the first position and the last value")
    func duplicates() {
        let fromLiteral: JSONObject = ["x": 1, "y": 2, "x": 3]
        #expect(fromLiteral.keys == ["x", "y"])
        #expect(fromLiteral["x"] == 3)
        let fromPairs = JSONObject([("k", "first"), ("j", "mid"), ("k", "last")])
        #expect(fromPairs.keys == ["k", "j"])
        #expect(fromPairs["k"] == "last")
    }

    @Test("many keys: O(1) lookups stay right through inserts and removals")
    func manyKeys() {
        var object = JSONObject()
        for index in 0..<1000 { object["k\(index)"] = .integer(Int64(index)) }
        for index in stride(from: 0, to: 1000, by: 3) { object["k\(index)"] = nil }
        #expect(object.count == 666)
        for index in 0..<1000 {
            #expect(object["k\(index)"] == (index % 3 == 0 ? nil : .integer(Int64(index))))
        }
        #expect(object.keys.first == "k1" && object.keys.last == "k998")
    }
}
