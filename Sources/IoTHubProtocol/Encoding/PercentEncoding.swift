/// URL percent-encoding as IoT Hub clients use it in SAS tokens, MQTT user names and property bags.
///
/// The rules mirror Python's `urllib.parse.quote` (which the official SDKs use): letters, digits and `_.-~` are
/// never encoded, other bytes of the UTF-8 form become `%XX` with upper-case hex unless listed in `safe`.
/// Decoding takes `%XX` only: `+` is a literal plus, as in IoT Hub property bags.
///
/// ```swift
/// PercentEncoding.encode("a b/c")                 // "a%20b%2Fc"
/// PercentEncoding.encode("a b/c", safe: "/")      // "a%20b/c"
/// PercentEncoding.encode("a b", spaceAsPlus: true) // "a+b"
/// try PercentEncoding.decode("a%20b+c")           // "a b+c"
/// ```
public enum PercentEncoding {
    /// Percent-encodes `text`, leaving unreserved characters and the ASCII characters in `safe` as they are.
    /// - Parameter spaceAsPlus: encode a space as `+` (Python's `quote_plus`), which also encodes a literal `+`.
    public static func encode(_ text: String, safe: String = "", spaceAsPlus: Bool = false) -> String {
        let safeBytes = Array(safe.utf8)
        var output = [UInt8]()
        output.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) || safeBytes.contains(byte) {
                output.append(byte)
            } else if spaceAsPlus && byte == UInt8(ascii: " ") {
                output.append(UInt8(ascii: "+"))
            } else {
                output.append(UInt8(ascii: "%"))
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes `%XX` escapes (either hex case). `+` stays a plus.
    /// - Throws: ``PercentEncodingError`` when a `%` is not followed by two hex digits or the result is not UTF-8.
    public static func decode(_ text: Substring) throws(PercentEncodingError) -> String {
        let input = text.utf8
        guard input.contains(UInt8(ascii: "%")) else { return String(text) }
        var output = [UInt8]()
        output.reserveCapacity(input.count)
        var index = input.startIndex
        var offset = 0
        while index != input.endIndex {
            let byte = input[index]
            if byte == UInt8(ascii: "%") {
                let first = input.index(after: index)
                guard first != input.endIndex, let high = hexValue(input[first]) else {
                    throw .invalidEscape(offset: offset, in: String(text))
                }
                let second = input.index(after: first)
                guard second != input.endIndex, let low = hexValue(input[second]) else {
                    throw .invalidEscape(offset: offset, in: String(text))
                }
                output.append(high << 4 | low)
                index = input.index(after: second)
                offset += 3
            } else {
                output.append(byte)
                index = input.index(after: index)
                offset += 1
            }
        }
        guard let decoded = String(validating: output, as: UTF8.self) else {
            throw .invalidUTF8(in: String(text))
        }
        return decoded
    }

    /// Decodes `%XX` escapes (either hex case). `+` stays a plus.
    public static func decode(_ text: String) throws(PercentEncodingError) -> String {
        try decode(text[...])
    }

    /// Decodes `%XX` escapes leniently, like Python's `urllib.parse.unquote`: a `%` without two hex digits stays
    /// as it is, and bytes that are not UTF-8 become U+FFFD. `+` stays a plus.
    public static func decodeLenient(_ text: Substring) -> String {
        decodeLenient(text.utf8)
    }

    /// ``decodeLenient(_:)`` over UTF-8 bytes (invalid UTF-8 after decoding becomes U+FFFD).
    public static func decodeLenient(_ bytes: some Collection<UInt8>) -> String {
        guard bytes.contains(UInt8(ascii: "%")) else { return String(decoding: bytes, as: UTF8.self) }
        // Decoded text is never longer than its encoding: written straight into the string's storage (none at all
        // for up to 15 bytes), with ill-formed UTF-8 repaired to U+FFFD by the initializer.
        return String(unsafeUninitializedCapacity: bytes.count) { output in
            var written = 0
            var index = bytes.startIndex
            while index != bytes.endIndex {
                let byte = bytes[index]
                if byte == UInt8(ascii: "%") {
                    let first = bytes.index(after: index)
                    if first != bytes.endIndex {
                        let second = bytes.index(after: first)
                        if second != bytes.endIndex, let high = hexValue(bytes[first]), let low = hexValue(bytes[second]) {
                            output[written] = high << 4 | low
                            written += 1
                            index = bytes.index(after: second)
                            continue
                        }
                    }
                }
                output[written] = byte
                written += 1
                index = bytes.index(after: index)
            }
            return written
        }
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A percent-encoded string could not be decoded.
public enum PercentEncodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A `%` at this byte offset is not followed by two hex digits.
    case invalidEscape(offset: Int, in: String)
    /// The decoded bytes are not valid UTF-8.
    case invalidUTF8(in: String)

    public var description: String {
        switch self {
        case .invalidEscape(let offset, let text):
            "'%' at offset \(offset) of '\(text)' is not followed by two hex digits; encode a literal '%' as %25"
        case .invalidUTF8(let text):
            "'\(text)' decodes to bytes that are not UTF-8; percent-encode the UTF-8 form of the text"
        }
    }
}
