extension JSONValue {
    /// How ``serialized(style:)`` lays out text.
    public enum SerializationStyle: Sendable, Hashable {
        /// No whitespace at all: `{"a":1,"b":[true,null]}`. The form for the wire.
        case compact
        /// Two-space indentation, one member or element per line, `": "` after keys; empty containers stay `{}` and
        /// `[]`. The form for people (CLI output, logs).
        case pretty
    }

    /// The value as JSON text.
    ///
    /// - Strings escape `"` and `\`, write U+0008, U+0009, U+000A, U+000C and U+000D as `\b \t \n \f \r`, other
    ///   characters below U+0020 as `\u00xx` (lowercase hex), and keep every other character, including non-ASCII,
    ///   as UTF-8. `/` is not escaped.
    /// - Integers print in decimal; doubles in the shortest form that parses back to the same `Double` (`0.1`,
    ///   `1e-05`, `1.0`), always with a `.` or exponent so they stay doubles when parsed again.
    /// - A non-finite double (only possible in a constructed value; the parser never makes one) is written as `null`,
    ///   because JSON has no NaN or infinity.
    /// - Object members appear in insertion order.
    ///
    /// ```swift
    /// let value: JSONValue = ["a": 1, "b": [true, .null], "c": "é\n"]
    /// value.serialized()                  // {"a":1,"b":[true,null],"c":"é\n"}
    /// print(value.serialized(style: .pretty))
    /// ```
    public func serialized(style: SerializationStyle = .compact) -> String {
        String(decoding: serializedBytes(style: style), as: UTF8.self)
    }

    /// The value as UTF-8 JSON bytes (see ``serialized(style:)``).
    public func serializedBytes(style: SerializationStyle = .compact) -> [UInt8] {
        var writer = JSONWriter(pretty: style == .pretty)
        writer.write(self, indent: 0)
        return writer.output
    }
}

/// Appends JSON text for values to a byte buffer.
struct JSONWriter {
    let pretty: Bool
    var output: [UInt8] = []

    init(pretty: Bool) {
        self.pretty = pretty
    }

    mutating func write(_ value: JSONValue, indent: Int) {
        switch value {
        case .null: append("null")
        case .bool(let flag): append(flag ? "true" : "false")
        case .integer(let number): append(String(number))
        case .double(let number): append(number.isFinite ? number.description : "null")
        case .string(let text): writeString(text)
        case .array(let elements):
            writeContainer(open: "[", close: "]", count: elements.count, indent: indent) { writer, index in
                writer.write(elements[index], indent: indent + 1)
            }
        case .object(let object):
            writeContainer(open: "{", close: "}", count: object.count, indent: indent) { writer, index in
                let member = object[index]
                writer.writeString(member.key)
                writer.output.append(UInt8(ascii: ":"))
                if writer.pretty { writer.output.append(UInt8(ascii: " ")) }
                writer.write(member.value, indent: indent + 1)
            }
        }
    }

    private mutating func writeContainer(
        open: Unicode.Scalar, close: Unicode.Scalar, count: Int, indent: Int,
        element: (inout JSONWriter, Int) -> Void
    ) {
        output.append(UInt8(ascii: open))
        for index in 0..<count {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            newline(indent: indent + 1)
            element(&self, index)
        }
        if count > 0 { newline(indent: indent) }
        output.append(UInt8(ascii: close))
    }

    private mutating func newline(indent: Int) {
        guard pretty else { return }
        output.append(UInt8(ascii: "\n"))
        output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * indent))
    }

    private mutating func append(_ text: String) {
        output.append(contentsOf: text.utf8)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    mutating func writeString(_ text: String) {
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x08: append("\\b")
            case 0x09: append("\\t")
            case 0x0A: append("\\n")
            case 0x0C: append("\\f")
            case 0x0D: append("\\r")
            case ..<0x20:
                append("\\u00")
                output.append(Self.hexDigits[Int(byte >> 4)])
                output.append(Self.hexDigits[Int(byte & 0x0F)])
            default:
                output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
