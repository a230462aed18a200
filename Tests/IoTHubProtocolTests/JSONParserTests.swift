import Testing
@testable import IoTHubProtocol

@Suite("JSON parser")
struct JSONParserTests {
    @Test("numbers: integers that fit Int64 stay integers, everything else is a double")
    func numbers() throws {
        let cases: [(String, JSONValue)] = [
            ("0", .integer(0)), ("-0", .integer(0)), ("42", .integer(42)), ("-17", .integer(-17)),
            ("9223372036854775807", .integer(.max)), ("-9223372036854775808", .integer(.min)),
            ("9223372036854775808", .double(9_223_372_036_854_775_808)),
            ("-9223372036854775809", .double(-9_223_372_036_854_775_808)),
            ("1.0", .double(1)), ("1e3", .double(1000)), ("1E+3", .double(1000)), ("-1.5e-3", .double(-0.0015)),
            ("0.1", .double(0.1)), ("1e-400", .double(0)), ("2.5", .double(2.5)),
        ]
        for (text, expected) in cases {
            let value = try JSONValue(parsing: text)
            #expect(value == expected, "\(text)")
            // The case, not just the numeric value, must match.
            switch (value, expected) {
            case (.integer, .integer), (.double, .double): break
            default: Issue.record("\(text) parsed as \(value), expected the case of \(expected)")
            }
        }
    }

    @Test("literals, strings, escapes and UTF-8")
    func scalars() throws {
        #expect(try JSONValue(parsing: "true") == .bool(true))
        #expect(try JSONValue(parsing: " \t\r\nfalse\n") == .bool(false))
        #expect(try JSONValue(parsing: "null") == .null)
        #expect(try JSONValue(parsing: #""""#) == "")
        #expect(try JSONValue(parsing: #""a\"b\\c\/d\b\f\n\r\t""#) == "a\"b\\c/d\u{08}\u{0C}\n\r\t")
        #expect(try JSONValue(parsing: #""\u00e9\u00C9\u0000""#) == "éÉ\u{0}")
        #expect(try JSONValue(parsing: #""\ud83d\ude00 ok""#) == "😀 ok")
        #expect(try JSONValue(parsing: "\"héllo 日本 🙂\"") == "héllo 日本 🙂")
        #expect(try JSONValue(parsing: [0x22, 0xE2, 0x82, 0xAC, 0x22]) == "€")
    }

    @Test("containers, nesting and duplicate keys (last value, first position)")
    func containers() throws {
        let value = try JSONValue(parsing: #" { "a" : [ 1 , { } , [ ] ] , "b" : { "c" : null } , "a" : 2 } "#)
        #expect(value == ["a": 2, "b": ["c": .null]])
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(try JSONValue(parsing: "[]") == [])
        #expect(try JSONValue(parsing: "{}") == .object([:]))
        #expect(try JSONValue(parsing: "[[[1]],[2]]") == [[[1]], [2]])
    }

    @Test("malformed input is refused with the right reason and byte offset")
    func refusals() {
        let cases: [(String, Int, JSONParseError.Reason)] = [
            ("", 0, .unexpectedEndOfInput),
            ("   ", 3, .unexpectedEndOfInput),
            ("01", 0, .leadingZero),
            ("-01", 1, .leadingZero),
            ("[00]", 1, .leadingZero),
            ("[1,]", 3, .trailingComma),
            (#"{"a":1,}"#, 7, .trailingComma),
            ("[1] x", 4, .trailingGarbage),
            ("1 2", 2, .trailingGarbage),
            ("NaN", 0, .nonFiniteNumber),
            ("Infinity", 0, .nonFiniteNumber),
            ("[-Infinity]", 1, .nonFiniteNumber),
            ("1e400", 0, .numberOutOfRange),
            ("-1e400", 0, .numberOutOfRange),
            ("\"a\u{01}\"", 2, .controlCharacterInString(0x01)),
            ("\"tab\there\"", 4, .controlCharacterInString(0x09)),
            (#""\ud800""#, 1, .loneSurrogate(0xD800)),
            (#""\udc00""#, 1, .loneSurrogate(0xDC00)),
            (#""x\ud800\u0041""#, 2, .loneSurrogate(0xD800)),
            (#""\ud800\ud800""#, 1, .loneSurrogate(0xD800)),
            (#""\x""#, 1, .invalidEscape),
            (#""\u12""#, 1, .invalidEscape),
            (#""\u12G4""#, 1, .invalidEscape),
            ("\"abc", 4, .unexpectedEndOfInput),
            ("[", 1, .unexpectedEndOfInput),
            (#"{"a":"#, 5, .unexpectedEndOfInput),
            ("[1 2]", 3, .unexpectedByte(UInt8(ascii: "2"), expected: "',' or ']'")),
            (#"{"a" 1}"#, 5, .unexpectedByte(UInt8(ascii: "1"), expected: "':' after the key")),
            ("{1:2}", 1, .unexpectedByte(UInt8(ascii: "1"), expected: "a string key in double quotes")),
            ("1.", 2, .invalidNumber),
            ("1.e3", 2, .invalidNumber),
            ("-", 1, .invalidNumber),
            ("1e", 2, .invalidNumber),
            ("1e+", 3, .invalidNumber),
        ]
        for (text, offset, reason) in cases {
            #expect(throws: JSONParseError(offset: offset, reason: reason), "\(text)") {
                try JSONValue(parsing: text)
            }
        }
        let anyValue = "a JSON value (object, array, string, number, true, false or null)"
        for text in ["+1", ".5", "tru", "nul", "'a'", "[,1]"] {
            #expect(throws: JSONParseError.self, "\(text)") { try JSONValue(parsing: text) }
        }
        #expect(throws: JSONParseError(offset: 0, reason: .unexpectedByte(UInt8(ascii: "t"), expected: anyValue))) {
            try JSONValue(parsing: "tru")
        }
    }

    @Test("invalid UTF-8 inside strings and a byte order mark are refused")
    func invalidUTF8() {
        let cases: [([UInt8], Int, JSONParseError.Reason)] = [
            ([0x22, 0xC3, 0x28, 0x22], 1, .invalidUTF8),              // bad continuation
            ([0x22, 0xC0, 0xAF, 0x22], 1, .invalidUTF8),              // overlong '/'
            ([0x22, 0xE0, 0x80, 0xAF, 0x22], 1, .invalidUTF8),        // overlong 3-byte
            ([0x22, 0xED, 0xA0, 0x80, 0x22], 1, .invalidUTF8),        // encoded surrogate U+D800
            ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1, .invalidUTF8),  // above U+10FFFF
            ([0x22, 0x61, 0xFF, 0x22], 2, .invalidUTF8),
            ([0x22, 0x80, 0x22], 1, .invalidUTF8),                    // lone continuation byte
            ([0x22, 0xE2, 0x82], 3, .unexpectedEndOfInput),           // truncated
            ([0xEF, 0xBB, 0xBF, 0x31], 0, .unexpectedByte(0xEF, expected:
                "a JSON value (object, array, string, number, true, false or null)")),
        ]
        for (bytes, offset, reason) in cases {
            #expect(throws: JSONParseError(offset: offset, reason: reason), "\(bytes)") {
                try JSONValue(parsing: bytes)
            }
        }
        // The same characters escaped after a backslash path still validate.
        #expect(throws: JSONParseError(offset: 3, reason: .invalidUTF8)) {
            try JSONValue(parsing: [0x22, 0x5C, 0x6E, 0xC0, 0xAF, 0x22])
        }
    }

    @Test("nesting is limited; hostile depth gives an error, not a crash")
    func depth() throws {
        let parser = JSONParser(maximumDepth: 3)
        #expect(try parser.parse("[[[]]]") == [[[]]])
        #expect(try parser.parse(#"{"a":{"b":[1]}}"#) == ["a": ["b": [1]]])
        #expect(throws: JSONParseError(offset: 3, reason: .tooDeep(limit: 3))) { try parser.parse("[[[[]]]]") }
        #expect(throws: JSONParseError(offset: 13, reason: .tooDeep(limit: 3))) {
            try parser.parse(#"{"a":{"b":[1,{}]}}"#)
        }
        #expect(try JSONParser(maximumDepth: 0).parse("7") == 7)
        #expect(throws: JSONParseError(offset: 0, reason: .tooDeep(limit: 0))) { try JSONParser(maximumDepth: 0).parse("{}") }

        let defaultDepth = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONValue(parsing: defaultDepth)
        #expect(throws: JSONParseError(offset: 64, reason: .tooDeep(limit: 64))) {
            try JSONValue(parsing: "[" + defaultDepth + "]")
        }
        let hostile = [UInt8](repeating: UInt8(ascii: "["), count: 200_000)
        #expect(throws: JSONParseError(offset: 64, reason: .tooDeep(limit: 64))) { try JSONValue(parsing: hostile) }
        // Even with a huge limit the parser keeps its own stack, so unbounded opening brackets end cleanly.
        #expect(throws: JSONParseError(offset: 200_000, reason: .unexpectedEndOfInput)) {
            try JSONParser(maximumDepth: 1_000_000).parse(hostile)
        }
    }

    @Test("errors describe the place and the fix")
    func descriptions() {
        let error = JSONParseError(offset: 6, reason: .leadingZero)
        #expect(error.description == "JSON parse error at byte 6: a number has a leading zero; write 1, or 0.1 for a fraction")
        #expect(JSONParseError(offset: 1, reason: .loneSurrogate(0xD83D)).description.contains("\\uD83D"))
        #expect(JSONParseError(offset: 1, reason: .unexpectedByte(0x7B, expected: "x")).description.contains("'{'"))
        #expect(JSONParseError(offset: 1, reason: .unexpectedByte(0x0A, expected: "x")).description.contains("0x0A"))
    }
}
