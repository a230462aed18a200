/// A strict RFC 8259 JSON parser over UTF-8 bytes.
///
/// It accepts exactly one JSON value surrounded by optional whitespace and refuses, with a ``JSONParseError`` that
/// carries the byte offset: trailing data, leading zeros (`01`), trailing commas, `NaN`/`Infinity`, numbers beyond
/// the `Double` range, raw control characters in strings, invalid escapes, `\u` escapes of lone UTF-16 surrogates,
/// invalid UTF-8 (including overlong forms and encoded surrogates), a byte order mark, and nesting deeper than
/// ``maximumDepth``.
///
/// The parser is iterative (its own stack, never the call stack), so hostile input cannot exhaust the thread's
/// stack; the depth limit bounds memory and keeps later recursive work on the value (serialization, equality)
/// shallow. Integers without fraction or exponent that fit `Int64` become ``JSONValue/integer(_:)``; all other
/// numbers become ``JSONValue/double(_:)`` (correctly rounded). A duplicate key keeps its first position and takes
/// its last value.
///
/// ```swift
/// let parser = JSONParser(maximumDepth: 16)
/// let value = try parser.parse(#"{"a": [1, 2.5, "x\u00e9"]}"#)
/// value["a"]?[0]             // .integer(1)
/// try parser.parse("[1,]")   // throws: JSON parse error at byte 3: a ',' is followed by a closing bracket; …
/// ```
public struct JSONParser: Sendable {
    /// The deepest nesting of arrays and objects accepted: `[]` is depth 1, `[[]]` depth 2. Scalars alone are
    /// depth 0, so `0` admits only a scalar document.
    public var maximumDepth: Int

    /// A parser that accepts nesting up to `maximumDepth` (default 64).
    public init(maximumDepth: Int = 64) {
        self.maximumDepth = maximumDepth
    }

    /// Parses UTF-8 bytes (for example a message body).
    /// - Throws: ``JSONParseError`` for anything that is not exactly one valid JSON value.
    public func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        var reader = JSONReader(bytes: Array(bytes), maximumDepth: maximumDepth)
        return try reader.readDocument()
    }

    /// Parses text.
    /// - Throws: ``JSONParseError`` for anything that is not exactly one valid JSON value; offsets count UTF-8 bytes.
    public func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }
}

/// The parser's state: a position in the bytes and a stack of open containers.
private struct JSONReader {
    let bytes: [UInt8]
    let maximumDepth: Int
    var position = 0

    private enum Container { case array, object }
    // Parallel stacks, so the innermost container is mutated in place (no copy per element).
    private var open: [Container] = []
    private var arrays: [[JSONValue]] = []
    private var objects: [JSONObject] = []
    private var pendingKeys: [String] = []

    init(bytes: [UInt8], maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    mutating func readDocument() throws(JSONParseError) -> JSONValue {
        let value = try readValue()
        skipWhitespace()
        guard position == bytes.count else { throw failure(.trailingGarbage) }
        return value
    }

    private func failure(_ reason: JSONParseError.Reason, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? position, reason: reason)
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    private func unexpected(expected: String) -> JSONParseError {
        guard let byte = current else { return failure(.unexpectedEndOfInput) }
        return failure(.unexpectedByte(byte, expected: expected))
    }

    // MARK: Structure

    private mutating func readValue() throws(JSONParseError) -> JSONValue {
        nextValue: while true {
            skipWhitespace()
            var value: JSONValue
            switch current {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let isObject = current == UInt8(ascii: "{")
                guard open.count < maximumDepth else { throw failure(.tooDeep(limit: maximumDepth)) }
                position += 1
                skipWhitespace()
                if current == UInt8(ascii: isObject ? "}" : "]") {
                    position += 1
                    value = isObject ? .object(JSONObject()) : .array([])
                } else if isObject {
                    pendingKeys.append(try readKey())
                    objects.append(JSONObject())
                    open.append(.object)
                    continue nextValue
                } else {
                    arrays.append([])
                    open.append(.array)
                    continue nextValue
                }
            default:
                value = try readScalar()
            }
            // Attach the finished value to the innermost container; close containers that end here.
            while let container = open.last {
                skipWhitespace()
                switch container {
                case .array:
                    arrays[arrays.count - 1].append(value)
                    if current == UInt8(ascii: ",") {
                        position += 1
                        skipWhitespace()
                        if current == UInt8(ascii: "]") { throw failure(.trailingComma) }
                        continue nextValue
                    }
                    guard current == UInt8(ascii: "]") else { throw unexpected(expected: "',' or ']'") }
                    value = .array(arrays.removeLast())
                case .object:
                    objects[objects.count - 1][pendingKeys.removeLast()] = value
                    if current == UInt8(ascii: ",") {
                        position += 1
                        skipWhitespace()
                        if current == UInt8(ascii: "}") { throw failure(.trailingComma) }
                        pendingKeys.append(try readKey())
                        continue nextValue
                    }
                    guard current == UInt8(ascii: "}") else { throw unexpected(expected: "',' or '}'") }
                    value = .object(objects.removeLast())
                }
                position += 1
                open.removeLast()
            }
            return value
        }
    }

    /// A member name and its `:`, with surrounding whitespace.
    private mutating func readKey() throws(JSONParseError) -> String {
        skipWhitespace()
        guard current == UInt8(ascii: "\"") else { throw unexpected(expected: "a string key in double quotes") }
        let key = try readString()
        skipWhitespace()
        guard current == UInt8(ascii: ":") else { throw unexpected(expected: "':' after the key") }
        position += 1
        return key
    }

    private mutating func readScalar() throws(JSONParseError) -> JSONValue {
        guard let byte = current else { throw failure(.unexpectedEndOfInput) }
        switch byte {
        case UInt8(ascii: "\""):
            return .string(try readString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try readNumber()
        case UInt8(ascii: "t"):
            try readLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try readLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try readLiteral("null")
            return .null
        case UInt8(ascii: "N") where hasPrefix("NaN"), UInt8(ascii: "I") where hasPrefix("Infinity"):
            throw failure(.nonFiniteNumber)
        default:
            throw unexpected(expected: "a JSON value (object, array, string, number, true, false or null)")
        }
    }

    private func hasPrefix(_ literal: StaticString, at offset: Int? = nil) -> Bool {
        let start = offset ?? position
        let count = literal.utf8CodeUnitCount
        guard bytes.count - start >= count else { return false }
        var index = 0
        while index < count {
            if bytes[start + index] != literal.utf8Start[index] { return false }
            index += 1
        }
        return true
    }

    private mutating func readLiteral(_ literal: StaticString) throws(JSONParseError) {
        guard hasPrefix(literal) else {
            throw unexpected(expected: "a JSON value (object, array, string, number, true, false or null)")
        }
        position += literal.utf8CodeUnitCount
    }

    // MARK: Numbers

    private mutating func readNumber() throws(JSONParseError) -> JSONValue {
        let start = position
        let negative = current == UInt8(ascii: "-")
        if negative {
            position += 1
            if hasPrefix("Infinity") { throw failure(.nonFiniteNumber, at: start) }
        }
        switch current {
        case UInt8(ascii: "0"):
            position += 1
            if let next = current, isDigit(next) { throw failure(.leadingZero, at: position - 1) }
        case let byte? where isDigit(byte):
            skipDigits()
        default:
            throw failure(.invalidNumber)
        }
        let integerEnd = position
        var isInteger = true
        if current == UInt8(ascii: ".") {
            position += 1
            guard let byte = current, isDigit(byte) else { throw failure(.invalidNumber) }
            skipDigits()
            isInteger = false
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard let byte = current, isDigit(byte) else { throw failure(.invalidNumber) }
            skipDigits()
            isInteger = false
        }
        let digitsStart = negative ? start + 1 : start
        if isInteger, let value = integerValue(digits: digitsStart..<integerEnd, negative: negative) {
            return .integer(value)
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw failure(.numberOutOfRange, at: start) }
        return .double(value)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while let byte = current, isDigit(byte) { position += 1 }
    }

    /// The digits as `Int64`, or `nil` when they overflow. Accumulates negatively so `Int64.min` fits.
    private func integerValue(digits: Range<Int>, negative: Bool) -> Int64? {
        var value: Int64 = 0
        for index in digits {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(Int64(bytes[index] - UInt8(ascii: "0")))
            if overflow1 || overflow2 { return nil }
            value = next
        }
        if negative { return value }
        let (positive, overflow) = Int64(0).subtractingReportingOverflow(value)
        return overflow ? nil : positive
    }

    // MARK: Strings

    /// A string starting at the opening quote; leaves the position after the closing quote.
    private mutating func readString() throws(JSONParseError) -> String {
        position += 1
        let start = position
        // Fast path: no escapes, so the text is a slice of the input.
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: bytes[start..<(position - 1)], as: UTF8.self)
            case UInt8(ascii: "\\"):
                return try readEscapedString(prefix: bytes[start..<position])
            case ..<0x20:
                throw failure(.controlCharacterInString(byte))
            case ..<0x80:
                position += 1
            default:
                try skipUTF8Sequence()
            }
        }
        throw failure(.unexpectedEndOfInput)
    }

    private mutating func readEscapedString(prefix: ArraySlice<UInt8>) throws(JSONParseError) -> String {
        var buffer = Array(prefix)
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: buffer, as: UTF8.self)
            case UInt8(ascii: "\\"):
                let scalar = try readEscape()
                UTF8.encode(scalar) { buffer.append($0) }
            case ..<0x20:
                throw failure(.controlCharacterInString(byte))
            case ..<0x80:
                buffer.append(byte)
                position += 1
            default:
                let sequenceStart = position
                try skipUTF8Sequence()
                buffer.append(contentsOf: bytes[sequenceStart..<position])
            }
        }
        throw failure(.unexpectedEndOfInput)
    }

    /// One escape starting at the backslash (a surrogate pair takes two `\u` escapes).
    private mutating func readEscape() throws(JSONParseError) -> Unicode.Scalar {
        let start = position
        position += 1
        guard let letter = current else { throw failure(.unexpectedEndOfInput) }
        position += 1
        switch letter {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"): break
        default: throw failure(.invalidEscape, at: start)
        }
        let unit = try readHex4(escapeStart: start)
        switch unit {
        case 0xD800...0xDBFF:
            guard hasPrefix("\\u") else { throw failure(.loneSurrogate(unit), at: start) }
            let lowStart = position
            position += 2
            let low = try readHex4(escapeStart: lowStart)
            guard (0xDC00...0xDFFF).contains(low) else { throw failure(.loneSurrogate(unit), at: start) }
            let combined = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            guard let scalar = Unicode.Scalar(combined) else { throw failure(.loneSurrogate(unit), at: start) }
            return scalar
        case 0xDC00...0xDFFF:
            throw failure(.loneSurrogate(unit), at: start)
        default:
            guard let scalar = Unicode.Scalar(unit) else { throw failure(.invalidEscape, at: start) }
            return scalar
        }
    }

    private mutating func readHex4(escapeStart: Int) throws(JSONParseError) -> UInt16 {
        guard bytes.count - position >= 4 else { throw failure(.invalidEscape, at: escapeStart) }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure(.invalidEscape, at: escapeStart)
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    /// Checks one multi-byte UTF-8 sequence (Unicode Table 3-7: no overlong forms, surrogates or values above
    /// U+10FFFF) and moves past it.
    private mutating func skipUTF8Sequence() throws(JSONParseError) {
        let start = position
        let lead = bytes[start]
        let continuation: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: continuation = 1
        case 0xE0: continuation = 2; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: continuation = 2
        case 0xED: continuation = 2; secondRange = 0x80...0x9F
        case 0xF0: continuation = 3; secondRange = 0x90...0xBF
        case 0xF1...0xF3: continuation = 3
        case 0xF4: continuation = 3; secondRange = 0x80...0x8F
        default: throw failure(.invalidUTF8, at: start)
        }
        for index in 1...continuation {
            guard start + index < bytes.count else { throw failure(.unexpectedEndOfInput, at: bytes.count) }
            let range = index == 1 ? secondRange : 0x80...0xBF
            guard range.contains(bytes[start + index]) else { throw failure(.invalidUTF8, at: start) }
        }
        position = start + continuation + 1
    }
}
