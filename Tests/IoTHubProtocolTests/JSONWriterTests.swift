import Testing
@testable import IoTHubProtocol

@Suite("JSON serialization")
struct JSONWriterTests {
    @Test("compact form, in insertion order")
    func compact() {
        let value: JSONValue = ["a": 1, "b": [true, .null], "c": ["z": "y", "x": []], "d": .object([:])]
        #expect(value.serialized() == #"{"a":1,"b":[true,null],"c":{"z":"y","x":[]},"d":{}}"#)
        #expect(value.description == value.serialized())
        #expect(value.serializedBytes() == Array(value.serialized().utf8))
        #expect(JSONValue.integer(.min).serialized() == "-9223372036854775808")
    }

    @Test("strings escape quotes, backslashes and control characters and keep other text as UTF-8")
    func escaping() {
        #expect(JSONValue.string("say \"hi\" \\ /").serialized() == #""say \"hi\" \\ /""#)
        #expect(JSONValue.string("\n\r\t\u{08}\u{0C}").serialized() == #""\n\r\t\b\f""#)
        #expect(JSONValue.string("\u{0}\u{01}\u{1F}").serialized() == #""\u0000\u0001\u001f""#)
        #expect(JSONValue.string("é€日本🙂\u{7F}\u{85}\u{2028}").serialized() == "\"é€日本🙂\u{7F}\u{85}\u{2028}\"")
        let key: JSONValue = ["k\"\n": 1]
        #expect(key.serialized() == #"{"k\"\n":1}"#)
    }

    @Test("doubles: shortest round-trip text that stays a double; non-finite becomes null")
    func doubles() {
        let cases: [(Double, String)] = [
            (1.0, "1.0"), (0.1, "0.1"), (-2.5, "-2.5"), (1e-5, "1e-05"), (1e20, "1e+20"), (-0.0, "-0.0"),
            (1e15, "1000000000000000.0"), (123.456, "123.456"), (.leastNonzeroMagnitude, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ]
        for (number, text) in cases {
            #expect(JSONValue.double(number).serialized() == text)
            let back = try? JSONValue(parsing: text)
            #expect(back?.doubleValue == number)
            if case .double? = back {} else { Issue.record("\(text) did not parse back as a double") }
        }
        #expect(JSONValue.array([.double(.infinity), .double(-.infinity), .double(.nan)]).serialized()
                == "[null,null,null]")
    }

    @Test("pretty form: two-space indentation, one member per line")
    func pretty() throws {
        let value: JSONValue = ["a": 1, "b": [true, .null], "c": ["d": "x"], "e": [], "f": .object([:])]
        let expected = """
            {
              "a": 1,
              "b": [
                true,
                null
              ],
              "c": {
                "d": "x"
              },
              "e": [],
              "f": {}
            }
            """
        #expect(value.serialized(style: .pretty) == expected)
        #expect(JSONValue.integer(3).serialized(style: .pretty) == "3")
        #expect(try JSONValue(parsing: expected) == value)
    }
}
