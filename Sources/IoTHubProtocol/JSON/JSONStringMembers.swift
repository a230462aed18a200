/// JSON objects whose values are all strings (message properties), written and read without building a
/// ``JSONValue`` tree on the way out.
///
/// The hub stores each message's application and system properties this way; writing them is on the path of every
/// device-to-cloud message, so it appends to a caller's buffer and allocates nothing else.
///
/// ```swift
/// var bytes: [UInt8] = []
/// JSONStringMembers.write([("alert", "true"), ("unit", "°C")], to: &bytes)   // {"alert":"true","unit":"°C"}
/// let members = try JSONStringMembers.parse(bytes)                         // [("alert", "true"), ("unit", "°C")]
/// ```
public enum JSONStringMembers {
    /// Opens an object: `{`.
    @inlinable
    public static func open(_ output: inout [UInt8]) { output.append(UInt8(ascii: "{")) }

    /// Appends one `"key":"value"` member, with a `,` first unless it is the object's first member.
    public static func append(key: String, value: String, first: Bool, to output: inout [UInt8]) {
        if !first { output.append(UInt8(ascii: ",")) }
        writeString(key, to: &output)
        output.append(UInt8(ascii: ":"))
        writeString(value, to: &output)
    }

    /// Closes an object: `}`.
    @inlinable
    public static func close(_ output: inout [UInt8]) { output.append(UInt8(ascii: "}")) }

    /// Appends `{"k":"v",…}` for `members`, in their order.
    @inlinable
    public static func write(_ members: some Sequence<(String, String)>, to output: inout [UInt8]) {
        open(&output)
        var first = true
        for (key, value) in members {
            append(key: key, value: value, first: first, to: &output)
            first = false
        }
        close(&output)
    }

    /// The members of a JSON object whose values are strings, in document order.
    /// - Throws: ``JSONParseError`` when the bytes are not JSON, or ``JSONStringMembersError`` when they are not an
    ///   object of strings.
    public static func parse(_ bytes: some Collection<UInt8>) throws -> [(String, String)] {
        guard case .object(let object) = try JSONParser(maximumDepth: 1).parse(bytes) else {
            throw JSONStringMembersError(reason: "not a JSON object")
        }
        return try object.map { member in
            guard case .string(let value) = member.value else {
                throw JSONStringMembersError(reason: "the value of '\(member.key)' is \(member.value.typeName), not a string")
            }
            return (member.key, value)
        }
    }

    /// Appends `text` as a JSON string, escaped as ``JSONValue/serialized(style:)`` escapes it.
    public static func writeString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            // Runs without escapes (nearly every property) go in one append.
            var runStart = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x08: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
                case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0C: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
                case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                default:
                    output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                               hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]])
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
        output.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}

/// Stored properties that are JSON, but not an object of strings.
public struct JSONStringMembersError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var reason: String
    public var description: String { "properties are not a JSON object of strings: \(reason)" }
}
