/// A cursor over the body of one complete packet inside the decoder's buffer. Every read is bounds-checked
/// against the end of the packet (not the end of the buffer) and throws ``MQTTDecodeError/truncated(field:)``
/// when the packet is too short.
struct MQTTByteReader {
    let bytes: [UInt8]
    private(set) var index: Int
    let end: Int

    init(bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        self.index = range.lowerBound
        self.end = range.upperBound
    }

    /// Bytes left in the packet.
    var remaining: Int { end - index }

    var isAtEnd: Bool { index == end }

    mutating func readByte(_ field: MQTTField) throws(MQTTDecodeError) -> UInt8 {
        guard index < end else { throw .truncated(field: field) }
        let byte = bytes[index]
        index += 1
        return byte
    }

    mutating func readUInt16(_ field: MQTTField) throws(MQTTDecodeError) -> UInt16 {
        guard end - index >= 2 else { throw .truncated(field: field) }
        let value = UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])
        index += 2
        return value
    }

    /// Reads a 16-bit length and returns the range of the bytes it announces.
    mutating func readLengthPrefixed(_ field: MQTTField) throws(MQTTDecodeError) -> Range<Int> {
        let length = Int(try readUInt16(field))
        guard end - index >= length else { throw .truncated(field: field) }
        let range = index..<(index + length)
        index += length
        return range
    }

    /// Reads a length-prefixed MQTT UTF-8 string (§1.5.3).
    mutating func readString(_ field: MQTTField) throws(MQTTDecodeError) -> String {
        let range = try readLengthPrefixed(field)
        guard MQTTUTF8.isValid(bytes, range) else { throw .invalidUTF8(field: field) }
        return String(decoding: bytes[range], as: UTF8.self)
    }

    /// Reads a length-prefixed topic name: a string that is non-empty and has no wildcards.
    mutating func readTopicName(_ field: MQTTField) throws(MQTTDecodeError) -> String {
        let range = try readLengthPrefixed(field)
        guard MQTTUTF8.isValid(bytes, range) else { throw .invalidUTF8(field: field) }
        switch MQTTTopicRules.checkName(bytes[range]) {
        case nil: return String(decoding: bytes[range], as: UTF8.self)
        case .empty: throw .emptyTopic
        case .nullCharacter: throw .invalidUTF8(field: field)
        case .wildcard, .misplacedWildcard:
            throw .wildcardInTopicName(String(decoding: bytes[range], as: UTF8.self))
        }
    }

    /// Reads a length-prefixed topic filter.
    mutating func readTopicFilter() throws(MQTTDecodeError) -> String {
        let range = try readLengthPrefixed(.topicFilter)
        guard MQTTUTF8.isValid(bytes, range) else { throw .invalidUTF8(field: .topicFilter) }
        let filter = String(decoding: bytes[range], as: UTF8.self)
        switch MQTTTopicRules.checkFilter(bytes[range]) {
        case nil: return filter
        case .nullCharacter: throw .invalidUTF8(field: .topicFilter)
        case .empty, .wildcard, .misplacedWildcard: throw .invalidTopicFilter(filter)
        }
    }

    /// Reads length-prefixed binary data.
    mutating func readBinary(_ field: MQTTField) throws(MQTTDecodeError) -> [UInt8] {
        Array(bytes[try readLengthPrefixed(field)])
    }

    /// Reads everything up to the end of the packet.
    mutating func readRest() -> [UInt8] {
        let rest = Array(bytes[index..<end])
        index = end
        return rest
    }
}
