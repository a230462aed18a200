/// The AMQP 1.0 primitive values IoT Hub's messages carry in properties, application properties and annotations.
///
/// A protocol-level model with no codec: the SDK and the hub encode it with Qpid Proton.
public indirect enum AMQPValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int32)
    case uint(UInt32)
    case long(Int64)
    case ulong(UInt64)
    case double(Double)
    /// Milliseconds since the Unix epoch.
    case timestamp(Int64)
    case uuid(UUIDBytes)
    case string(String)
    case symbol(String)
    case binary([UInt8])
    /// A list: values of any types.
    case list([AMQPValue])
    /// An array: values of one type (Event Hubs' `partition_ids` is an array of strings).
    case array([AMQPValue])
    /// A map, in its entries' order.
    case map([Entry])
    /// A described value: a descriptor (a symbol or a ulong code) and the value it describes, as in a link
    /// source's filter set.
    case described(descriptor: AMQPValue, value: AMQPValue)

    /// One key and value of a ``map(_:)``.
    public struct Entry: Sendable, Hashable {
        public var key: AMQPValue
        public var value: AMQPValue

        public init(_ key: AMQPValue, _ value: AMQPValue) {
            self.key = key
            self.value = value
        }
    }

    /// The value under `key` (compared as text) in a ``map(_:)``; `nil` for another value.
    public subscript(key: String) -> AMQPValue? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key.text == key }?.value
    }

    /// The 16 bytes of a uuid, in network order.
    public struct UUIDBytes: Sendable, Hashable, CustomStringConvertible {
        public var bytes: [UInt8]

        /// - Precondition: `bytes.count == 16`.
        public init(_ bytes: [UInt8]) {
            precondition(bytes.count == 16, "a uuid has 16 bytes")
            self.bytes = bytes
        }

        /// A random (version 4) uuid from the system's generator: a message or correlation id without Foundation.
        public static func random() -> UUIDBytes {
            var generator = SystemRandomNumberGenerator()
            var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
            bytes[6] = bytes[6] & 0x0f | 0x40
            bytes[8] = bytes[8] & 0x3f | 0x80
            return UUIDBytes(bytes)
        }

        /// Parses `8-4-4-4-12` hex text; `nil` when it is not a uuid.
        public init?(parsing text: String) {
            let hex = text.utf8.filter { $0 != UInt8(ascii: "-") }
            guard text.utf8.count == 36, hex.count == 32 else { return nil }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(16)
            var index = hex.startIndex
            while index < hex.endIndex {
                guard let high = Self.nibble(hex[index]), let low = Self.nibble(hex[index + 1]) else { return nil }
                bytes.append(high << 4 | low)
                index += 2
            }
            self.bytes = bytes
        }

        private static func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }

        /// Lower-case `8-4-4-4-12` hex.
        public var description: String {
            let digits = Array("0123456789abcdef".utf8)
            var out: [UInt8] = []
            for (i, byte) in bytes.enumerated() {
                if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0f)])
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// The value as IoT Hub's string-valued properties read it: text for strings and symbols, decimal for
    /// numbers, `8-4-4-4-12` for a uuid; `nil` for null and binary.
    public var text: String? {
        switch self {
        case .null, .binary, .list, .array, .map, .described: nil
        case .bool(let value): value ? "true" : "false"
        case .int(let value): String(value)
        case .uint(let value): String(value)
        case .long(let value): String(value)
        case .ulong(let value): String(value)
        case .double(let value): String(value)
        case .timestamp(let value): String(value)
        case .uuid(let value): value.description
        case .string(let value), .symbol(let value): value
        }
    }

    /// The value as a signed integer, for status codes and versions sent as any integer type.
    public var integer: Int64? {
        switch self {
        case .int(let value): Int64(value)
        case .uint(let value): Int64(value)
        case .long(let value): value
        case .ulong(let value): value <= UInt64(Int64.max) ? Int64(value) : nil
        case .string(let value), .symbol(let value): Int64(value)
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .null: "null"
        case .binary(let bytes): "binary(\(bytes.count) bytes)"
        case .symbol(let value): ":\(value)"
        case .list(let values), .array(let values): "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .map(let entries): "{" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .described(let descriptor, let value): "\(descriptor)(\(value))"
        default: text ?? ""
        }
    }
}
