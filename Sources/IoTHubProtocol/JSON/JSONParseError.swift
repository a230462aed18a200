/// Why ``JSONParser`` refused its input, and where: ``offset`` is the zero-based byte offset of the first byte
/// that could not be accepted.
///
/// ```swift
/// do {
///     _ = try JSONValue(parsing: #"{"a": 01}"#)
/// } catch {
///     error.offset        // 6
///     error.reason        // .leadingZero
///     print(error)        // JSON parse error at byte 6: a number has a leading zero; write 1, or 0.1 for a fraction
/// }
/// ```
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public enum Reason: Sendable, Hashable {
        /// The input ends inside a value (or is empty).
        case unexpectedEndOfInput
        /// A byte that cannot start or continue the value at this point; `expected` names what could.
        case unexpectedByte(UInt8, expected: String)
        /// A complete value is followed by more than whitespace.
        case trailingGarbage
        /// A number starts with `0` followed by another digit.
        case leadingZero
        /// A number is malformed (a lone `-`, a `.` or exponent without digits).
        case invalidNumber
        /// A number is too large for a `Double` (for example `1e400`).
        case numberOutOfRange
        /// `NaN`, `Infinity` or `-Infinity`, which JSON does not have.
        case nonFiniteNumber
        /// A backslash escape other than `\" \\ \/ \b \f \n \r \t \uXXXX`, or a `\u` without four hex digits.
        case invalidEscape
        /// A `\u` escape of a UTF-16 surrogate without its partner.
        case loneSurrogate(UInt16)
        /// An unescaped control character (below U+0020) inside a string.
        case controlCharacterInString(UInt8)
        /// Bytes inside a string that are not valid UTF-8.
        case invalidUTF8
        /// Arrays and objects are nested deeper than the parser's limit.
        case tooDeep(limit: Int)
        /// A `,` directly before `]` or `}`.
        case trailingComma
    }

    /// The zero-based byte offset of the problem.
    public var offset: Int
    /// What is wrong.
    public var reason: Reason

    /// Creates an error at `offset`.
    public init(offset: Int, reason: Reason) {
        self.offset = offset
        self.reason = reason
    }

    /// The offset and an explanation with what to do.
    public var description: String {
        "JSON parse error at byte \(offset): \(explanation)"
    }

    private var explanation: String {
        switch reason {
        case .unexpectedEndOfInput:
            "the input ends before the JSON value is complete; send the whole document"
        case .unexpectedByte(let byte, let expected):
            "unexpected \(Self.show(byte)); expected \(expected)"
        case .trailingGarbage:
            "extra data after the JSON value; send exactly one value"
        case .leadingZero:
            "a number has a leading zero; write 1, or 0.1 for a fraction"
        case .invalidNumber:
            "a number is malformed; JSON numbers look like -12, 3.5 or 1e-3 (digits on both sides of '.' and after 'e')"
        case .numberOutOfRange:
            "a number is too large for a 64-bit double; send it as a string"
        case .nonFiniteNumber:
            "NaN and Infinity are not JSON; send null or a string instead"
        case .invalidEscape:
            #"invalid escape in a string; use \" \\ \/ \b \f \n \r \t or \u followed by four hex digits"#
        case .loneSurrogate(let unit):
            "the escape \\u\(Self.hex(unit, width: 4)) is half of a UTF-16 surrogate pair without its other half; "
                + "escape the whole character as a high/low pair or write it as UTF-8"
        case .controlCharacterInString(let byte):
            "a string contains the raw control character 0x\(Self.hex(UInt16(byte), width: 2)); "
                + "escape it (\\n, \\t, \\u00XX)"
        case .invalidUTF8:
            "a string is not valid UTF-8; encode the text as UTF-8"
        case .tooDeep(let limit):
            "arrays and objects are nested more than \(limit) deep; flatten the document"
        case .trailingComma:
            "a ',' is followed by a closing bracket; remove the trailing comma"
        }
    }

    private static func show(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(hex(UInt16(byte), width: 2))"
    }

    static func hex(_ value: UInt16, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
