/// Why ``MQTTPacketEncoder`` refused to encode a packet. When encoding throws, the output buffer is left
/// exactly as it was.
///
/// The encoder enforces the same rules the decoder checks, so every packet that encodes successfully also
/// decodes back to an equal packet.
///
/// ```swift
/// do {
///     try MQTTPacket.publish(MQTTPublish(topic: "a/+", payload: [])).encode(into: &out)
/// } catch {
///     print(error)   // topic name "a/+" contains a wildcard …
/// }
/// ```
public enum MQTTEncodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The encoded packet would be `size` bytes (fixed header included), more than `limit`: the encoder's
    /// ``MQTTPacketEncoder/maximumPacketSize`` or the protocol's own maximum remaining length of 268,435,455.
    case packetTooLarge(size: Int, limit: Int)
    /// A string or binary field is `length` bytes long (UTF-8 bytes for strings); the maximum is 65535.
    case fieldTooLong(field: MQTTField, length: Int)
    /// A string field contains U+0000, which MQTT forbids (MQTT-1.5.3-2).
    case nullCharacter(field: MQTTField)
    /// A PUBLISH with QoS 1 or 2 has no packet identifier.
    case missingPacketIdentifier
    /// A PUBLISH with QoS 0 has a packet identifier (MQTT-2.3.1-5).
    case unexpectedPacketIdentifier
    /// A packet identifier is 0 (MQTT-2.3.1-1).
    case invalidPacketIdentifier(packetType: MQTTPacketType)
    /// A PUBLISH with QoS 0 has DUP set (MQTT-3.3.1-2).
    case dupWithQoS0
    /// A topic name (PUBLISH topic or will topic) contains `+` or `#`.
    case wildcardInTopicName(String)
    /// A topic name (PUBLISH topic or will topic) is empty.
    case emptyTopic
    /// A SUBSCRIBE or UNSUBSCRIBE without topic filters, or a SUBACK without return codes.
    case emptySubscription(packetType: MQTTPacketType)
    /// A topic filter is empty or has a misplaced wildcard.
    case invalidTopicFilter(String)
    /// A CONNECT has a password but no user name, which MQTT 3.1.1 does not allow (MQTT-3.1.2-22).
    case passwordWithoutUsername
    /// A CONNACK refuses the connection but claims a session is present (MQTT-3.2.2-4).
    case sessionPresentWithRefusal

    /// A message saying what was wrong with the packet.
    public var description: String {
        switch self {
        case let .packetTooLarge(size, limit):
            "cannot encode: the packet would be \(size) bytes, the limit is \(limit) bytes"
        case let .fieldTooLong(field, length):
            "cannot encode: the \(field) is \(length) bytes long, at most 65535 are allowed"
        case let .nullCharacter(field):
            "cannot encode: the \(field) contains U+0000 (MQTT-1.5.3-2)"
        case .missingPacketIdentifier:
            "cannot encode: a PUBLISH with QoS 1 or 2 needs a packet identifier"
        case .unexpectedPacketIdentifier:
            "cannot encode: a PUBLISH with QoS 0 must not have a packet identifier (MQTT-2.3.1-5)"
        case let .invalidPacketIdentifier(type):
            "cannot encode: \(type) has packet identifier 0; it must be non-zero (MQTT-2.3.1-1)"
        case .dupWithQoS0:
            "cannot encode: a PUBLISH with QoS 0 must not have DUP set (MQTT-3.3.1-2)"
        case let .wildcardInTopicName(topic):
            "cannot encode: topic name \"\(topic)\" contains a wildcard '+' or '#' (MQTT-3.3.2-2)"
        case .emptyTopic:
            "cannot encode: empty topic name (MQTT-4.7.3-1)"
        case let .emptySubscription(type):
            "cannot encode: \(type) needs at least one entry (MQTT-3.8.3-3, MQTT-3.10.3-2)"
        case let .invalidTopicFilter(filter):
            "cannot encode: invalid topic filter \"\(filter)\" (MQTT 3.1.1 §4.7.1)"
        case .passwordWithoutUsername:
            "cannot encode: MQTT 3.1.1 allows a password only together with a user name (MQTT-3.1.2-22)"
        case .sessionPresentWithRefusal:
            "cannot encode: a CONNACK that refuses the connection must have session present 0 (MQTT-3.2.2-4)"
        }
    }
}
